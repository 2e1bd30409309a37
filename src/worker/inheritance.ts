/**
 * The worker runtime belongs to the process the master spawned, not to the processes the app
 * starts (issue 12 item 4): `child_process.fork()` and `cluster.fork()` pass `process.execArgv`
 * (and with it `--require preload`) and the environment (SOCKRUN_SOCKETS) on to the child, whose
 * own `listen(19999, '127.0.0.1')` was then redirected to its IPC descriptor (EEXIST), whose
 * pings reached the app, and whose requests sockrun never saw. What the worker keeps from its
 * start is read once and removed here, the way sd_listen_fds(3) unsets LISTEN_FDS.
 */
import { SocketInfo, WorkerEnv } from '../protocol';
import { portOrPath } from './listen-map';
import type { ThreadListenSpec } from './thread-listen';

/** The variables the master sets for the runtime alone (SOCKRUN_WORKER_ID and _GENERATION stay, for the app). */
const RUNTIME_ONLY = [WorkerEnv.SOCKETS, WorkerEnv.PING_INTERVAL_MS, WorkerEnv.IDLE_TIMEOUT_MS, WorkerEnv.ECV_ON_APP_PORT];

/** Removes `--require <preload>` from `execArgv` (the app's own Node flags stay). */
export function forgetPreload(execArgv: string[], preload: string): void {
  for (let i = execArgv.length - 1; i >= 0; i--) {
    const arg = execArgv[i];
    if ((arg === '--require' || arg === '-r') && execArgv[i + 1] === preload) execArgv.splice(i, 2);
    else if (arg === `--require=${preload}`) execArgv.splice(i, 1);
  }
}

/**
 * After the runtime read its variables: remove them; set PORT to the first socket's port (or
 * path), the PaaS convention, so `listen(process.env.PORT)` maps by port; tell this process's
 * threads where to ask for shared sockets (`threads`: false without a master to ask).
 */
export function handOverEnv(env: NodeJS.ProcessEnv, sockets: SocketInfo[], threads: boolean): void {
  for (const name of RUNTIME_ONLY) delete env[name];
  // process.env, not env: under --workers 0 the app runs in this very process, with a copy as env.
  if (sockets.length > 0) process.env.PORT = portOrPath(sockets[0]);
  if (threads) env[WorkerEnv.THREAD_LISTEN] = JSON.stringify({ pid: process.pid, sockets } satisfies ThreadListenSpec);
}

/**
 * An app that runs Node's `cluster` inside a worker makes its cluster workers the app's own
 * processes: sockrun counts nothing they serve. Said once, on the app's first cluster.fork().
 */
export function warnOnOwnCluster(): void {
  (require('node:cluster') as import('node:cluster').Cluster).once('fork', () => {
    console.error('sockrun: this worker runs cluster workers of its own (cluster.fork()); they run without sockrun\'s runtime, so ' +
      'sockrun does not count their requests or connections (--recycle-requests and --recycle-connections do not see them) and ' +
      'they end with this worker on a drain. Let sockrun be the cluster instead: drop cluster.fork() and run --workers N.');
  });
}
