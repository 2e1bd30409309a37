/**
 * Upgraded connections (WebSockets, and CONNECT tunnels) are not idle keep-alive: they carry a
 * protocol of their own that only the app can close properly (a WebSocket close frame with
 * 1001 "going away", or 1012 "service restart"). On a drain sockrun leaves them to the app — its
 * SIGTERM listeners and drain hooks run first — and ends what is still open just before
 * `--graceful-timeout`, where the master would otherwise kill the whole worker. They are exempt
 * from `--idle-timeout` too: a quiet WebSocket is alive, its liveness is the app's (ws pings).
 */
import type { Conn } from './state';

/** How long before the graceful timeout the worker ends the upgraded connections left: 20 % of it, at most 1 s. */
export function endUpgradedAfterMs(gracefulTimeoutMs: number): number {
  return gracefulTimeoutMs - Math.min(1000, gracefulTimeoutMs * 0.2);
}

/**
 * True when the HTTP server handed this connection to an 'upgrade' (or 'connect') listener.
 * Node detaches its HTTP parser from the socket then (`socket.parser = null`, _http_server's
 * onParserExecuteCommon); on a live HTTP connection it is set from the first byte on. Reading it
 * adds no listener: an 'upgrade' listener of ours would make Node accept upgrades the app never
 * asked for.
 */
export function isUpgraded(c: Conn): boolean {
  return c.kind === 'http' && !c.socket.destroyed && (c.socket as { parser?: unknown }).parser === null;
}

/** Ends the upgraded connections still open: the deadline is near. Returns how many. */
export function endUpgraded(conns: Iterable<Conn>): number {
  let n = 0;
  for (const c of conns) {
    if (!isUpgraded(c)) continue;
    c.socket.destroy();
    n++;
  }
  return n;
}
