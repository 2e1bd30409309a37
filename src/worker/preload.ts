/**
 * Loaded with `node --require` before the app in every worker. In the main thread it installs
 * the runtime only when started by a sockrun master, so requiring it elsewhere changes nothing,
 * and takes itself out of `process.execArgv`, so the processes the app forks start without it
 * (inheritance.ts). Node runs `--require` in worker threads too: there it installs only the
 * listen rule for threads (thread-listen.ts), and only in a sockrun worker's threads.
 */
import { isMainThread } from 'node:worker_threads';
import { WorkerEnv } from '../protocol';

// Required, not imported: a thread loads none of the runtime's modules.
if (isMainThread) {
  if (process.env[WorkerEnv.SOCKETS] !== undefined) (require('./runtime') as typeof import('./runtime')).installWorkerRuntime();
  (require('./inheritance') as typeof import('./inheritance')).forgetPreload(process.execArgv, __filename);
} else if (process.env[WorkerEnv.THREAD_LISTEN] !== undefined) {
  (require('./thread-listen') as typeof import('./thread-listen')).installThreadListen(process.env);
}
