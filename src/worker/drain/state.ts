/**
 * What the worker knows about the connections of the servers on inherited sockets: one record
 * per connection, the counters the pings report, the drain flag and the hooks. Process-wide, on a
 * global symbol: an app may load its own copy of sockrun (its node_modules) next to the one the
 * master preloaded, and `onDrain`/`onShutdown`/`isDraining` from either copy must act on the same
 * state.
 */
import type * as net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2Session } from 'node:http2';

/**
 * The protocol a connection speaks, known from its server (and ALPN for TLS): `http` is
 * HTTP/1.x (it may become upgraded, see upgraded.ts), `h2` an HTTP/2 session, `tcp` anything
 * else (raw `net`/`tls` servers).
 */
export type ConnKind = 'http' | 'h2' | 'tcp';

export interface Conn {
  kind: ConnKind;
  /** The socket the app's protocol runs on: the TLS socket on TLS servers, else the TCP one. */
  socket: net.Socket;
  server: net.Server;
  /** HTTP/1 requests or HTTP/2 streams not finished yet. */
  inFlight: number;
  /** HTTP/1 responses in flight (pipelining allows several). */
  responses: Set<ServerResponse>;
  /** The HTTP/2 session on this connection. */
  session?: Http2Session;
  /** bytesRead + bytesWritten when last looked at, and when they last changed (ms). */
  bytes: number;
  lastActive: number;
}

export type Hook = () => unknown;

/** One server on an inherited socket, as the drain sees it. */
export interface ServerState {
  /** 'listening' was emitted (a server whose listen failed is not waited for). */
  listened: boolean;
  /** 'close' was emitted: it stopped accepting and its last connection ended. */
  closed: boolean;
}

export interface DrainState {
  servers: Map<net.Server, ServerState>;
  conns: Set<Conn>;
  stats: { connectionsActive: number; connectionsTotal: number; requestsTotal: number };
  draining: boolean;
  idleTimeoutMs: number;
  gracefulTimeoutMs: number;
  drainHooks: Hook[];
  shutdownHooks: Hook[];
  /** Set by --ecv-on-app-port (worker/ecv.ts): a request it answers in place of the app. */
  isEcvProbe?: (req: IncomingMessage) => boolean;
}

const STATE = Symbol.for('sockrun.worker.drain');
const globals = globalThis as Record<symbol, unknown>;

export const state: DrainState = (globals[STATE] as DrainState | undefined) ?? (globals[STATE] = {
  servers: new Map(),
  conns: new Set(),
  stats: { connectionsActive: 0, connectionsTotal: 0, requestsTotal: 0 },
  draining: false,
  idleTimeoutMs: 0,
  gracefulTimeoutMs: 0,
  drainHooks: [],
  shutdownHooks: [],
} satisfies DrainState) as DrainState;

/** Where a connection's record hangs on its socket (also reachable through an HTTP/2 session's socket proxy). */
export const CONN = Symbol.for('sockrun.worker.conn');

/** Marks the in-memory connection of a self-check (worker/self-check.ts), so the drain does not count it. */
export const SELF_CHECK = Symbol.for('sockrun.self-check');

/** True for the in-memory connection of a self-check: the master's rollout check, not a client. */
export function isSelfCheck(socket: unknown): boolean {
  return Boolean(socket && (socket as Record<symbol, unknown>)[SELF_CHECK]);
}

export function connOf(socket: unknown): Conn | undefined {
  return (socket as { [CONN]?: Conn } | null | undefined)?.[CONN];
}

/** Updates `lastActive` when bytes moved since the last look: activity without listening to 'data'. */
export function noteActivity(c: Conn, now: number): void {
  const bytes = (c.socket.bytesRead ?? 0) + (c.socket.bytesWritten ?? 0);
  if (bytes !== c.bytes) {
    c.bytes = bytes;
    c.lastActive = now;
  }
}
