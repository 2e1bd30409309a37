/**
 * The API for apps that want explicit control (drop-in apps need none of it).
 *
 *   const sockrun = require('sockrun');
 *   server.listen(sockrun.socket('http'));       // the inherited socket named "http"
 *   sockrun.onDrain(() => wss.clients.forEach((ws) => ws.close(1001)));  // at the start of a drain
 *   sockrun.onShutdown(() => db.close());        // awaited after the servers closed on a drain
 */
import type { SocketInfo } from './protocol';
import { describeSocket } from './worker/listen-map';
import { inheritedSockets, isDraining, onDrain, onShutdown } from './worker/runtime';

export type { SocketInfo };
export { onDrain, onShutdown, isDraining };

/**
 * True in a worker started by a sockrun master (not under `--workers 0`, where the app runs in the
 * master's process). The runtime's state says so, not SOCKRUN_SOCKETS: the runtime removes it from
 * the environment, so that the processes the app starts are not taken for workers.
 */
export const isWorker: boolean = inheritedSockets().length > 0 && typeof process.send === 'function';

/** Every socket this worker inherited, in fd order. Empty outside a sockrun worker. */
export function sockets(): SocketInfo[] {
  return inheritedSockets();
}

/**
 * Listen options for the inherited socket named `name` (or the only one when `name` is
 * omitted): pass the result to `server.listen()`. Throws, listing what exists, when there is
 * no such socket.
 */
export function socket(name?: string): { fd: number } {
  const all = inheritedSockets();
  const found = name === undefined ? (all.length === 1 ? all[0] : undefined) : all.find((s) => s.name === name);
  if (!found) {
    const what = name === undefined ? 'exactly one inherited socket' : `a socket named "${name}"`;
    throw new Error(`sockrun: expected ${what}; have: ${all.length ? all.map(describeSocket).join(', ') : 'none (not a sockrun worker)'}`);
  }
  return { fd: found.fd };
}

/*
 * cluster2 compatibility (docs/cluster2.md): `const { Cluster } = require('sockrun')`
 * replaces `const Cluster = require('cluster2')`; and the typed delegation API.
 */
export { Cluster } from './cluster2/cluster';
export type { AppSpec, ClusterRole, CreateApp, Listenable, Serve, SignalInfo, WorkerExit } from './cluster2/cluster';
export type { Cluster2Options, ClusterOptions, SockrunOptions } from './cluster2/options';
export type { Heartbeat } from './cluster2/heartbeat';
/** Worker side: hand a job to the master and await its answer (`delegate`), or fire and forget (`tell`). */
export { DelegateError, delegate, tell } from './worker/delegate';
export type { DelegateOptions } from './worker/delegate';
export type { DelegateContext, DelegateHandler } from './master/delegate';
export type { Cluster2DelegateReply, Cluster2DelegateRequest, DelegateErrorCode } from './protocol';
