/**
 * When a connection is idle, and what happens to it then: `--idle-timeout` (cluster2's
 * `timeout`) while serving, and the ending of idle keep-alive connections during a drain.
 *
 * Idle means between requests: no request (HTTP/1) or stream (HTTP/2) in flight and no byte
 * read or written for the whole period. A request in flight is never idle, however quiet
 * (long-poll, server-sent events): Node's own `requestTimeout`/`headersTimeout` govern it.
 * Upgraded connections are never idle (upgraded.ts). Activity is read from the sockets' byte
 * counters by a periodic sweep: a socket timeout (`socket.setTimeout`) would fire the HTTP
 * server's own 'timeout' handling, which destroys the socket mid-request (issue 13: long-polls
 * cut at 30 s), and a 'data' listener would change how the app's streams flow.
 */
import type { ConnKind } from './state';

/** Idle keep-alive connections are ended this long after a drain starts (or after their last activity). */
export const DRAIN_IDLE_GRACE_MS = 1000;

export interface IdleView {
  kind: ConnKind;
  upgraded: boolean;
  inFlight: number;
  /** Since the last request ended or byte moved. */
  idleForMs: number;
}

/**
 * What to do with a connection now:
 * - `destroy`: idle longer than the idle timeout (an HTTP/1 keep-alive or a raw TCP connection);
 * - `goaway`: an HTTP/2 session idle that long, closed gracefully (the client reconnects when it needs to);
 * - `end`: during a drain, an HTTP/1 connection idle for DRAIN_IDLE_GRACE_MS;
 * - `keep`: anything else.
 */
export function idleAction(c: IdleView, o: { idleTimeoutMs: number; draining: boolean }): 'keep' | 'destroy' | 'goaway' | 'end' {
  if (c.upgraded || c.inFlight > 0) return 'keep';
  if (o.draining && c.kind === 'http' && c.idleForMs >= DRAIN_IDLE_GRACE_MS) return 'end';
  if (o.idleTimeoutMs <= 0 || c.idleForMs < o.idleTimeoutMs) return 'keep';
  return c.kind === 'h2' ? 'goaway' : 'destroy';
}

/** How often the sweep looks: a quarter of the idle timeout, between 50 ms and 1 s; 100 ms while draining. */
export function sweepEveryMs(o: { idleTimeoutMs: number; draining: boolean }): number {
  if (o.draining) return 100;
  return Math.min(1000, Math.max(50, Math.floor(o.idleTimeoutMs / 4)));
}
