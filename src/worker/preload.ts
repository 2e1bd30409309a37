/**
 * Loaded with `node --require` before the app in every worker. In the main thread it installs
 * the runtime only when started by a sockrun master, so requiring it elsewhere changes nothing,
 * and takes itself out of `process.execArgv`, so the processes the app forks start without it
 * (inheritance.ts). Node runs `--require` in worker threads too: there it installs only the
 * listen rule for threads (thread-listen.ts), and only in a sockrun worker's threads.
 *
 * A worker's main thread is told apart without loading node:worker_threads (~4-7 ms of every
 * worker's start, issue 16): it has the IPC channel the master spawned it with, which no thread
 * ever has, and the runtime's variables, which the runtime removes before the app can start a
 * thread. Anything else asks node:worker_threads.
 */
import { WorkerEnv } from '../protocol';

// Required, not imported: a thread loads none of the runtime's modules.
const inheritance = () => require('./inheritance') as typeof import('./inheritance');
if (process.env[WorkerEnv.SOCKETS] !== undefined && typeof process.send === 'function') {
  (require('./runtime') as typeof import('./runtime')).installWorkerRuntime();
  inheritance().forgetPreload(process.execArgv, __filename);
} else if ((require('node:worker_threads') as typeof import('node:worker_threads')).isMainThread) {
  inheritance().forgetPreload(process.execArgv, __filename);
} else if (process.env[WorkerEnv.THREAD_LISTEN] !== undefined) {
  (require('./thread-listen') as typeof import('./thread-listen')).installThreadListen(process.env);
}
