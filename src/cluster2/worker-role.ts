/**
 * `Cluster.listen()` in a sockrun worker: call the app callback and listen. The worker runtime
 * (worker/runtime.ts, loaded by the preload) redirects `listen(port)` to the inherited socket,
 * so the app's own port, a systemd socket or a `--listen` address all just work; it also does
 * the idle timeout, the stats and the drain. What is left here is cluster2's surface.
 */
import type { AppSpec, Cluster, CreateApp, Listenable, RoleRunner } from './cluster';
import { onMasterMessage } from '../worker/runtime';
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

  createApp((app) => {
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

  // The master owns the fleet: ask it (our parent) by signal, as `kill` would.
  const ask = (sig: NodeJS.Signals) => async (): Promise<void> => {
    process.kill(process.ppid, sig);
  };
  return { stop: ask('SIGQUIT'), shutdown: ask('SIGTERM') };
}
