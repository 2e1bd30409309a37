/**
 * Loaded with `node --require` before the app in every worker. It installs the runtime only
 * when started by a sockrun master, so requiring it elsewhere changes nothing.
 */
import { WorkerEnv } from '../protocol';
import { installWorkerRuntime } from './runtime';

if (process.env[WorkerEnv.SOCKETS] !== undefined) installWorkerRuntime();
