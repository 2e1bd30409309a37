/**
 * `Cluster.listen()` in the process that becomes the master: it resolves a Configuration from
 * the options (options.ts), starts a sockrun Master whose workers run this same script, and
 * turns the Master's events into cluster2's. The master never calls listen() on the app: it
 * holds the sockets, the workers accept (DESIGN §3).
 */
import type { Cluster, CreateApp, Listenable, AppSpec, RoleRunner } from './cluster';
import { SockrunError } from '../errors';
import { startMaster } from '../cli/run';
import type { Master } from '../master/master';
import type { DelegateRouter } from '../master/delegate';
import type { WorkerHandle, ExitReason } from '../master/worker-handle';
import type { MasterState } from '../master/lifecycle';
import { parseListenFds } from '../sockets/listen-fds';
import { failToStart } from './fail';
import { ClusterOptions, clusterConfiguration } from './options';

export function runMaster(cluster: Cluster, createApp: CreateApp, onListening: ((app?: Listenable | AppSpec[]) => void) | undefined, router: DelegateRouter): RoleRunner {
  let master: Master | undefined;
  const started = appPorts(createApp).then(async (ports) => {
    const options: ClusterOptions = ports ? { ...cluster.options, port: ports } : cluster.options;
    // Sockets handed to us (systemd, --fd) replace binding `port`: the app needs no change.
    const adopting = parseListenFds(process.env, process.pid).length > 0
      || options.fd !== undefined || Boolean(process.env.SOCKRUN_FD);
    const config = clusterConfiguration(options, process.env, process.argv, adopting);
    const run = await startMaster(config, (m) => {
      master = m;
      wireEvents(m, cluster, onListening);
      router.attach(m);
    });
    void run.finished.then((code) => {
      cluster.emit('stopped', code);
      // A cluster2 script is the master: whatever else it opened at the top level (a database
      // pool, timers) must not keep a stopped master alive.
      process.exit(code);
    });
    return run.master;
  });
  started.catch((err: unknown) => failToStart(cluster, err));

  const control = async (cmd: 'stop' | 'shutdown'): Promise<void> => {
    const m = master ?? (await started);
    const reply = await m.control(cmd);
    if (!reply.ok) throw new SockrunError('SOCKRUN_ERR_CONTROL', `Cluster.${cmd}(): ${reply.message}`);
  };
  return { stop: () => control('stop'), shutdown: () => control('shutdown') };
}

function wireEvents(m: Master, cluster: Cluster, onListening: ((app?: Listenable | AppSpec[]) => void) | undefined): void {
  m.on('spawn', (w: WorkerHandle) => cluster.emit('forked', w.pid));
  m.on('listening', (w: WorkerHandle) => cluster.emit('listening', w.pid));
  m.on('exit', (w: WorkerHandle, reason: ExitReason) => {
    cluster.emit('died', w.pid, { code: w.exit?.code ?? null, signal: w.exit?.signal ?? null, reason, id: w.id, generation: w.generation });
  });
  m.on('reload', (result) => cluster.emit('reloaded', result));
  m.on('signal', (name: NodeJS.Signals) => cluster.emit(name, { pid: process.pid, type: 'master' }));
  let readyOnce = false;
  m.on('state', (to: MasterState, from: MasterState) => {
    cluster.emit('state', to, from);
    if (to === 'READY' && !readyOnce) {
      readyOnce = true;
      onListening?.();
    }
    // cluster2 emitted SIGKILL for stop(); a stop is a jump to STOPPED that is not the end of a drain.
    if (to === 'STOPPED' && from !== 'DRAINING') cluster.emit('SIGKILL', { pid: process.pid, type: 'master' });
  });
}

/**
 * cluster2 called the app callback in the master too, to learn the ports of its multi-app form
 * (`cb([{app, port}, …])`); the plain form `cb(server)` uses the `port` option. The servers are
 * never listened on here.
 */
function appPorts(createApp: CreateApp): Promise<(number | string)[] | undefined> {
  return new Promise((resolve, reject) => {
    try {
      createApp((app) => {
        if (!Array.isArray(app)) return resolve(undefined);
        resolve(app.flatMap((spec) => (Array.isArray(spec.port) ? spec.port : [spec.port])));
      });
    } catch (err) {
      reject(err);
    }
  });
}
