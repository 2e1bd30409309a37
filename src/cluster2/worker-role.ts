/**
 * `Cluster.listen()` in a sockrun worker: call the app callback and listen. The worker runtime
 * (worker/runtime.ts, loaded by the preload) redirects `listen(port)` to the inherited socket,
 * so the app's own port, a systemd socket or a `--listen` address all just work; it also does
 * the idle timeout, the stats and the drain. What is left here is cluster2's surface.
 */
import type { AppSpec, Cluster, CreateApp, Listenable, RoleRunner } from './cluster';
import { onMasterMessage } from '../worker/runtime';
import { CLUSTER_MASTER_ENV, unservedMonitorApp } from './monitor-app';
import { portsOf } from './options';

export function runWorker(cluster: Cluster, createApp: CreateApp, onListening: ((app?: Listenable | AppSpec[]) => void) | undefined): RoleRunner {
  // cluster2 emitted SIGTERM in a worker that was told to go; sockrun tells it by IPC (drain) or SIGTERM.
  let told = false;
  const goodbye = () => {
    if (told) return;
    told = true;
    cluster.emit('SIGTERM', { pid: process.pid, type: 'worker' });
  };
  onMasterMessage((m) => {
    if (m.type === 'sockrun:drain') goodbye();
  });
  process.on('SIGTERM', goodbye);

  serveApps(cluster, createApp, onListening, () => {
    // A Cluster master serves the monitor app itself (monitor-app.ts); the CLI's cannot. One
    // line from the first worker, not one from each.
    const id = process.env.SOCKRUN_WORKER_ID;
    if (process.env[CLUSTER_MASTER_ENV] === undefined && (id === undefined || id === '0')) {
      process.stderr.write(`sockrun: warning: ${unservedMonitorApp('cli')}\n`);
    }
  });

  // The master owns the fleet: ask it by signal, as `kill` would. It is our parent, or this very
  // process under `sockrun --workers 0` (no IPC channel then).
  const master = process.send ? process.ppid : process.pid;
  const ask = (sig: NodeJS.Signals) => async (): Promise<void> => {
    process.kill(master, sig);
  };
  return { stop: ask('SIGQUIT'), shutdown: ask('SIGTERM') };
}

/**
 * Calls the app callback and listens: `cb(server)` listens on the `port` option(s), cluster2's
 * `cb([{app, port}])` on each app's own; the worker runtime maps each listen() to an inherited
 * socket. Emits `listening` and runs `onListening` once every server listens. A monitor app
 * (`cb(app, monApp)`) is never listened on here: `onMonitorApp` is told about it.
 */
export function serveApps(
  cluster: Cluster,
  createApp: CreateApp,
  onListening: ((app?: Listenable | AppSpec[]) => void) | undefined,
  onMonitorApp: (monApp: unknown) => void,
): void {
  createApp((app, monApp) => {
    if (monApp != null || cluster.options.monitor != null) onMonitorApp(monApp ?? cluster.options.monitor);
    const specs: AppSpec[] = Array.isArray(app) ? app : [{ app, port: portsOf(cluster.options) }];
    const listens: Promise<void>[] = [];
    for (const spec of specs) {
      for (const port of Array.isArray(spec.port) ? spec.port : [spec.port]) {
        listens.push(new Promise((resolve) => {
          spec.app.listen(port, () => resolve());
        }));
      }
    }
    void Promise.all(listens).then(() => {
      cluster.emit('listening', process.pid);
      onListening?.(app);
    });
  });
}
