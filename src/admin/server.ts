/**
 * The admin port's HTTP server: the master's own socket (never the app's), hardened because
 * it must keep answering probes whatever other clients do.
 *
 *  - header section at most 8 KiB (431), request bodies at most 1 KiB (413);
 *  - headers must arrive within 5 s and the whole request within 10 s (408), checked every
 *    500 ms instead of Node's default 30 s, so a slowloris connection is gone within ~6 s;
 *  - idle keep-alive connections close after 2 s, except after a scrape (keepForScraper): 75 s,
 *    longer than Prometheus's scrape interval (1 min by default), so each scrape reuses the
 *    connection Prometheus keeps instead of a new TCP handshake and accept; on a saturated machine
 *    each of those is one more wait for a CPU (issue 16: scrape p99 under load). Not for every
 *    answer: a one-line health check that never reads its response (`node -e "http.get(…)"`)
 *    would wait that long for the server to hang up. The eviction below bounds idle connections;
 *  - at most 256 connections may sit without a request being handled (still sending headers,
 *    or idle between requests); one more evicts the oldest of them. A flood of slow clients
 *    therefore costs bounded memory and can never hold the door shut: a probe is evicted only
 *    if 256 newer connections arrive in the milliseconds it takes to send its headers.
 *
 * Node's own parser answers 400/408/431 and closes; this module only adds the eviction.
 */
import fs = require('node:fs');
import http = require('node:http');
import { createConnection, type Socket } from 'node:net';
import { SockrunError } from '../errors';
import { ListenAddress, formatAddress } from '../sockets/address';

export const LIMITS = {
  maxHeaderBytes: 8 * 1024,
  maxBodyBytes: 1024,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 2_000,
  scraperKeepAliveMs: 75_000,
  checkIntervalMs: 500,
  maxWaitingConnections: 256,
} as const;

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * After this response, the connection may stay idle LIMITS.scraperKeepAliveMs instead of
 * keepAliveTimeoutMs. Node's own 'finish' listener (added before the handler runs) set the
 * shorter timeout just before this one replaces it; the next request on it clears it as usual.
 */
export function keepForScraper(res: http.ServerResponse): void {
  // Taken now: Node detaches the socket from the response when it finishes.
  const socket = res.socket;
  res.once('finish', () => {
    if (socket && !socket.destroyed && res.shouldKeepAlive) socket.setTimeout(LIMITS.scraperKeepAliveMs);
  });
}

export interface AdminServer {
  server: http.Server;
  /** How to reach it, for the log: `127.0.0.1:9091` or `unix:/run/app-admin.sock`. */
  where: string;
  close(): Promise<void>;
}

export async function startAdminServer(address: ListenAddress, handler: Handler): Promise<AdminServer> {
  const server = http.createServer({
    maxHeaderSize: LIMITS.maxHeaderBytes,
    headersTimeout: LIMITS.headersTimeoutMs,
    requestTimeout: LIMITS.requestTimeoutMs,
    keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
    connectionsCheckingInterval: LIMITS.checkIntervalMs,
  }, handler);
  evictOldestWaiting(server, LIMITS.maxWaitingConnections);
  await listen(server, address);
  const bound = server.address();
  const where = typeof bound === 'string' ? `unix:${bound}`
    : bound ? formatAddress({ kind: 'tcp', host: bound.address, port: bound.port }) : formatAddress(address);
  return {
    server,
    where,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      if (address.kind === 'unix') fs.rmSync(address.path, { force: true });
    }),
  };
}

/**
 * Connections not being served (no request in the handler) wait in insertion order; a request
 * takes its connection out, the end of its response puts it back as the newest.
 */
function evictOldestWaiting(server: http.Server, max: number): void {
  const waiting = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    waiting.add(socket);
    socket.once('close', () => waiting.delete(socket));
    if (waiting.size > max) {
      const oldest = waiting.values().next().value as Socket;
      waiting.delete(oldest);
      oldest.destroy();
    }
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    waiting.delete(socket);
    res.once('close', () => {
      if (!socket.destroyed) waiting.add(socket);
    });
  });
}

function listen(server: http.Server, address: ListenAddress): Promise<void> {
  const label = `--admin ${formatAddress(address)}`;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new SockrunError('SOCKRUN_ERR_PORT_BUSY', `${label}: address already in use`));
      else reject(new SockrunError('SOCKRUN_ERR_BIND', `${label}: ${err.code ?? err.message}`));
    });
    if (address.kind === 'tcp') {
      server.listen({ port: address.port, host: address.host }, () => resolve());
      return;
    }
    removeStaleSocket(address.path, label).then(() => {
      // Mode 0600 from the start: whoever can connect may change state (auth.ts).
      const umask = process.umask(0o177);
      server.once('error', () => process.umask(umask));
      server.listen(address.path, () => {
        process.umask(umask);
        resolve();
      });
    }, reject);
  });
}

/**
 * A socket file left by a previous run is replaced. A socket someone still answers on, or any
 * other kind of file, is never touched.
 */
async function removeStaleSocket(file: string, label: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new SockrunError('SOCKRUN_ERR_BIND', `${label}: ${file} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(file);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new SockrunError('SOCKRUN_ERR_PORT_BUSY', `${label}: another process is listening on ${file}`);
  fs.rmSync(file, { force: true });
}
