/**
 * Loaded with `node --require` before the app in every worker. It installs the runtime only
 * when started by a sockrun master, so requiring it elsewhere changes nothing.
 */
import { WorkerEnv } from '../protocol';

if (process.env[WorkerEnv.SOCKETS] !== undefined) {
  // First, so that the runtime and the app load from Node's compile cache (compile-cache.ts):
  // with 16 workers, what each one compiles counts 16 times (issue 16).
  if (process.env.SOCKRUN_COMPILE_CACHE) (require('../compile-cache') as typeof import('../compile-cache')).enableCompileCache();
  (require('./runtime') as typeof import('./runtime')).installWorkerRuntime();
}
