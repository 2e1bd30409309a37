/**
 * Connection tracking for the servers on inherited sockets: one record per connection (state.ts),
 * counted for the pings, classified by protocol, and swept for the idle timeout and, during a
 * drain, for idle keep-alive connections. It observes and never alters: the listeners it adds
 * ('connection', 'secureConnection', 'session', 'stream', 'listening', 'close') change nothing
 * in how Node or the app handle a connection.
 */
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { observeHttp1Requests } from './http1';
import { goaway, isHttp2Server, observeHttp2 } from './http2';
import { idleAction, sweepEveryMs } from './idle';
import { CONN, Conn, ConnKind, isSelfCheck, noteActivity, ServerState, state } from './state';
import { isUpgraded } from './upgraded';

/** Starts observing `server` (a server the app listens with on an inherited socket). Idempotent. */
export function observe(server: net.Server): void {
  if (state.servers.has(server)) return;
  const s: ServerState = { listened: false, closed: false };
  state.servers.set(server, s);
  server.on('listening', () => {
    s.listened = true;
    s.closed = false;
  });
  server.on('close', () => (s.closed = true));

  // On a TLS server the app's protocol runs on the TLS socket ('secureConnection'); the TCP
  // socket ('connection') is only counted. Both prepended: the record must sit on the socket
  // before the server's own listener starts an HTTP/2 session on it (http2.ts reads it there).
  const isTls = typeof (server as Partial<tls.Server>).setSecureContext === 'function';
  server.prependListener('connection', (socket: net.Socket) => {
    if (isSelfCheck(socket)) return;
    state.stats.connectionsTotal++;
    state.stats.connectionsActive++;
    socket.once('close', () => state.stats.connectionsActive--);
    if (!isTls) addConn(server, socket);
  });
  if (isTls) server.prependListener('secureConnection', (socket: tls.TLSSocket) => addConn(server, socket));
  if (isHttp2Server(server)) observeHttp2(server);
  observeHttp1Requests();
  scheduleSweep();
}

function kindOf(server: net.Server, socket: net.Socket): ConnKind {
  if (isHttp2Server(server)) {
    // h2c speaks HTTP/2 only; a TLS server falls back to HTTP/1.1 (allowHTTP1) unless ALPN chose h2.
    const alpn = (socket as Partial<tls.TLSSocket>).alpnProtocol;
    return alpn === undefined || alpn === 'h2' ? 'h2' : 'http';
  }
  return typeof (server as { closeIdleConnections?: unknown }).closeIdleConnections === 'function' ? 'http' : 'tcp';
}

function addConn(server: net.Server, socket: net.Socket): void {
  const c: Conn = { kind: kindOf(server, socket), socket, server, inFlight: 0, responses: new Set(), bytes: 0, lastActive: Date.now() };
  (socket as net.Socket & { [CONN]?: Conn })[CONN] = c;
  state.conns.add(c);
  socket.once('close', () => state.conns.delete(c));
}

let sweepTimer: NodeJS.Timeout | undefined;

/** (Re)arms the sweep at the pace the state needs: called when observing starts and when a drain starts. */
export function scheduleSweep(): void {
  if (sweepTimer) clearTimeout(sweepTimer);
  sweepTimer = undefined;
  if (state.idleTimeoutMs <= 0 && !state.draining) return;
  sweepTimer = setTimeout(() => {
    sweep(Date.now());
    scheduleSweep();
  }, sweepEveryMs(state)).unref();
}

/** Applies the idle policy (idle.ts) to every connection. Exported for the drain's first pass. */
export function sweep(now: number): void {
  for (const c of state.conns) {
    noteActivity(c, now);
    const action = idleAction({ kind: c.kind, upgraded: isUpgraded(c), inFlight: c.inFlight, idleForMs: now - c.lastActive }, state);
    if (action === 'destroy') c.socket.destroy();
    else if (action === 'end' && !c.socket.writableEnded) c.socket.end();
    else if (action === 'goaway' && c.session) goaway(c.session);
  }
}
