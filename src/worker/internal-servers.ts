/**
 * On a drain, the servers on shared addresses (an app's internal servers, listen.ts) stop
 * accepting and finish what is in flight, like the servers on the inherited sockets: the workers
 * of the new generation (or nobody, at shutdown) take the address over. Not http.Server#close():
 * it ends at once the connections Node counts idle, among them ones just accepted whose request
 * is not read yet. Measured (test/integration/listen.test.ts, reload of 2 workers under 4
 * looping clients, 3 runs each): http's close() reset 1–4 of ~820 requests per reload; net's
 * close() with idle keep-alive connections ended after a grace reset none of 929–1,293.
 */
import net = require('node:net');
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Idle keep-alive connections are ended this long after the drain starts. */
const IDLE_GRACE_MS = 1000;

/** Resolves when every one of `servers` closed and its last connection ended. */
export function closeInternalServers(servers: Iterable<net.Server>): Promise<void> {
  return Promise.all([...servers].map((server) => new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    net.Server.prototype.close.call(server, () => resolve());
    const http = server as net.Server & { closeIdleConnections?: () => void };
    if (typeof http.closeIdleConnections !== 'function') return; // raw TCP: the app's connections end when the app ends them
    // Requests that still come on kept-alive connections are the last on them.
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    });
    let reaper: NodeJS.Timeout | undefined;
    const grace = setTimeout(() => {
      reaper = setInterval(() => http.closeIdleConnections!(), 100);
      http.closeIdleConnections!();
    }, IDLE_GRACE_MS);
    server.once('close', () => {
      clearTimeout(grace);
      clearInterval(reaper);
    });
  }))).then(() => undefined);
}
