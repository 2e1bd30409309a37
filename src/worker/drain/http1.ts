/**
 * HTTP/1.x: requests are counted from Node's diagnostics channels, not from a 'request'
 * listener, so sockrun adds nothing to the app's servers (a 'request' listener switches an
 * HTTP/2 server into its compatibility API, which broke gRPC: issue 13). On a drain, responses in
 * flight carry `Connection: close` and their connection ends after them; idle keep-alive
 * connections are ended by the sweep (idle.ts).
 */
import dc = require('node:diagnostics_channel');
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as net from 'node:net';
import { Conn, connOf, isSelfCheck, state } from './state';

/** What Node publishes on 'http.server.request.start' (Node ≥ 16.18), before the app's 'request' listeners run. */
interface RequestStart {
  request: IncomingMessage;
  response: ServerResponse;
  socket: net.Socket;
  server: net.Server;
}

let subscribed = false;

/** Starts counting the HTTP/1 requests of the servers on inherited sockets (once per process). */
export function observeHttp1Requests(): void {
  if (subscribed) return;
  subscribed = true;
  dc.subscribe('http.server.request.start', onRequestStart);
}

function onRequestStart(message: unknown): void {
  const { request, response, socket, server } = message as RequestStart;
  // Other servers of the app (an internal one on its own address) are not ours to count or drain;
  // ECV probes answered on the app port are not requests either (worker/ecv.ts).
  if (!state.servers.has(server) || state.isEcvProbe?.(request) === true || isSelfCheck(socket)) return;
  state.stats.requestsTotal++;
  const c = connOf(socket);
  if (!c) return;
  c.inFlight++;
  c.responses.add(response);
  c.lastActive = Date.now();
  if (state.draining) closeAfter(response, c);
  response.once('close', () => {
    c.inFlight--;
    c.responses.delete(response);
    c.lastActive = Date.now();
  });
}

/** On a drain: every response in flight on `c` is its connection's last. */
export function drainHttp1(c: Conn): void {
  for (const response of c.responses) closeAfter(response, c);
}

function closeAfter(response: ServerResponse, c: Conn): void {
  if (!response.headersSent) response.setHeader('Connection', 'close');
  else response.once('finish', () => c.socket.end());
}
