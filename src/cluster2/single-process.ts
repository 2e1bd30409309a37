/**
 * `cluster: false` (cluster2: "start the server as a single process"): no master, no workers —
 * the lifecycle of `sockrun --workers 0` (cli/single.ts), for a script that is already running.
 * This process holds the sockets (its own bind, or systemd's), installs the worker runtime on
 * them (listen() redirect, idle timeout, drain, onShutdown hooks) and serves the app itself.
 * SIGTERM/SIGINT drain (after the drain delay; exit 9 if still busy at the graceful timeout; a
 * second one exits at once), SIGQUIT exits at once, SIGHUP is ignored (nothing to reload without
 * workers). delegate() is answered by this same process's handle() handlers.
 */
import type { AppSpec, Cluster, CreateApp, Listenable, RoleRunner } from './cluster';
import { ExitCode } from '../errors';
import { resolveConfiguration } from '../config/resolve';
import type { DelegateRouter, Peer } from '../master/delegate';
import { isMasterMessage } from '../protocol';
import type { HeldSocket } from '../sockets/hold';
import { gatherSockets } from '../sockets/gather';
import { parseListenFds, unsetListenEnv } from '../sockets/listen-fds';
import { useInProcessMaster } from '../worker/delegate';
import { onShutdown } from '../worker/runtime';
import { drainAfterDelay, installInProcessRuntime } from '../worker/in-process';
import { failToStart } from './fail';
import { cluster2Warnings } from './legacy-options';
import { unservedMonitorApp } from './monitor-app';
import { toRawOptions } from './options';
import { serveApps } from './worker-role';

export function runSingleProcess(
  cluster: Cluster,
  createApp: CreateApp,
  onListening: ((app?: Listenable | AppSpec[]) => void) | undefined,
  router: DelegateRouter,
): RoleRunner {
  const info = { pid: process.pid, type: 'master' as const };
  let draining = false;
  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    cluster.emit('stopped', code);
    process.exit(code);
  };

  // delegate() in this process is answered by this process's handlers, as a worker's would be.
  const self: Peer = { pid: process.pid, send: (m) => (isMasterMessage(m) ? deliver(m) : undefined) };
  const deliver = useInProcessMaster({ send: (request) => setImmediate(() => router.receive(self, request)) });

  const started = holdSockets(cluster).then(({ config, sockets }) => {
    installInProcessRuntime(config, sockets);
    onShutdown(() => {
      exiting = true;
      cluster.emit('stopped', ExitCode.OK);
    });
    for (const line of cluster2Warnings(cluster.options)) warn(line);
    serveApps(cluster, createApp, (app) => {
      cluster.emit('state', 'READY', 'STARTING');
      onListening?.(app);
    }, () => warn(unservedMonitorApp('single')));
    return config;
  });
  started.catch((err: unknown) => failToStart(cluster, err));

  const stop = async (): Promise<void> => {
    cluster.emit('SIGKILL', info);
    exit(ExitCode.OK);
  };
  const shutdown = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    const config = await started;
    cluster.emit('state', 'DRAINING', 'READY');
    drainAfterDelay(config, 'shutdown', exit);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    cluster.emit(sig, info);
    if (sig === 'SIGQUIT' || (draining && (sig === 'SIGTERM' || sig === 'SIGINT'))) return void stop();
    if (sig === 'SIGTERM' || sig === 'SIGINT') return void shutdown();
    // SIGHUP: handled so that it does not kill the process; there are no workers to reload.
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'] as NodeJS.Signals[]) process.on(sig, () => onSignal(sig));
  return { stop, shutdown };
}

/** One line on stderr: a single process has no master log. */
function warn(line: string): void {
  process.stderr.write(`sockrun: warning: ${line}\n`);
}

/** DESIGN §2 for one process: systemd's sockets, `fd`, then our own binds (a busy port fails here). */
async function holdSockets(cluster: Cluster): Promise<{ config: ReturnType<typeof resolveConfiguration>; sockets: HeldSocket[] }> {
  const fromSystemd = parseListenFds(process.env, process.pid);
  unsetListenEnv(process.env);
  const adopting = fromSystemd.length > 0 || cluster.options.fd !== undefined || Boolean(process.env.SOCKRUN_FD);
  const config = resolveConfiguration({}, process.env, toRawOptions(cluster.options, adopting), process.argv[1] ?? '', []);
  return { config, sockets: await gatherSockets(fromSystemd, config) };
}
