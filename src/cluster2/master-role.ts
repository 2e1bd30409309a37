/**
 * `Cluster.listen()` in the process that becomes the master: it resolves a Configuration from
 * the options (options.ts), starts a sockrun Master whose workers run this same script, and
 * turns the Master's events into cluster2's. The master never calls listen() on the app: it
 * holds the sockets, the workers accept (DESIGN §3).
 */
import type { Cluster, CreateApp, Listenable, AppSpec, RoleRunner } from './cluster';
import { serveUnmatched } from '../admin';
import { SockrunError } from '../errors';
import { startMaster } from '../cli/run';
import type { Master } from '../master/master';
import type { DelegateRouter } from '../master/delegate';
import type { WorkerHandle, ExitReason } from '../master/worker-handle';
import type { MasterState } from '../master/lifecycle';
import { parseListenFds } from '../sockets/listen-fds';
import { failToStart } from './fail';
import { emitHeartbeats } from './heartbeat';
import { CLUSTER2_HEARTBEAT_MS, cluster2Warnings } from './legacy-options';
import { CLUSTER_MASTER_ENV, monitorHandler } from './monitor-app';
import { ClusterOptions, clusterConfiguration } from './options';

export function runMaster(cluster: Cluster, createApp: CreateApp, onListening: ((app?: Listenable | AppSpec[]) => void) | undefined, router: DelegateRouter): RoleRunner {
  let master: Master | undefined;
  const started = appServers(createApp).then(async ({ ports, monApp }) => {
    const options: ClusterOptions = { ...cluster.options };
    if (ports) options.port = ports;
    if (monApp != null) options.monitor = monApp;
    // Sockets handed to us (systemd, --fd) replace binding `port`: the app needs no change.
    const adopting = parseListenFds(process.env, process.pid).length > 0
      || options.fd !== undefined || Boolean(process.env.SOCKRUN_FD);
    const config = clusterConfiguration(options, process.env, process.argv, adopting);
    // Tells the workers a Cluster master serves the monitor app (under the CLI nobody does).
    process.env[CLUSTER_MASTER_ENV] = String(process.pid);
    const run = await startMaster(config, (m) => {
      master = m;
      wireEvents(m, cluster, onListening);
      router.attach(m);
      emitHeartbeats(m, options.heartbeatInterval !== undefined ? 0 : CLUSTER2_HEARTBEAT_MS, (beat) => cluster.emit('heartbeat', beat));
      for (const line of cluster2Warnings(options)) m.options.log.warn(line);
      if (options.monitor != null) {
        const handler = monitorHandler(options.monitor, m.options.log);
        if (handler) serveUnmatched(m, handler);
        else m.options.log.warn('the monitor app is not served: it is neither a request handler (an express app) nor an http.Server');
      }
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
  let drainBySignal = false;
  m.on('signal', (name: NodeJS.Signals) => {
    if (name === 'SIGTERM' || name === 'SIGINT') drainBySignal = true;
    cluster.emit(name, { pid: process.pid, type: 'master' });
  });
  let readyOnce = false;
  m.on('state', (to: MasterState, from: MasterState) => {
    cluster.emit('state', to, from);
    // cluster2's shutdown() (the shutdown script, c.shutdown()) reached the master as SIGTERM,
    // and its Cluster emitted it: so does every drain that no signal started (issue 17).
    if (to === 'DRAINING' && !drainBySignal) cluster.emit('SIGTERM', { pid: process.pid, type: 'master' });
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
 * (`cb([{app, port}, …])`) and to serve the monitor app (`cb(app, monApp)`); the plain form
 * `cb(server)` uses the `port` option. The app's servers are never listened on here.
 */
function appServers(createApp: CreateApp): Promise<{ ports?: (number | string)[]; monApp?: unknown }> {
  return new Promise((resolve, reject) => {
    try {
      createApp((app, monApp) => {
        if (!Array.isArray(app)) return resolve({ monApp });
        resolve({ ports: app.flatMap((spec) => (Array.isArray(spec.port) ? spec.port : [spec.port])), monApp });
      });
    } catch (err) {
      reject(err);
    }
  });
}
