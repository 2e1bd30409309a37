/**
 * The ECV monitor (cluster2 `ecv.monitor`): the master GETs a path of the app through the app's
 * real listening socket, so a worker answers it exactly as it answers clients; 2xx within the
 * timeout passes. The master never listens on that socket (sockets/hold.ts): it is a plain
 * client connecting to it, like any other, and the kernel hands the connection to a worker.
 */
import http = require('node:http');
import os = require('node:os');
import type { SocketInfo } from '../protocol';
import { CheckOutcome, oneLine } from './checks';

/** Where a client reaches the app: the first socket, a wildcard address replaced by loopback. */
export type AppTarget = { host: string; port: number } | { socketPath: string };

/**
 * The wildcard `::` (what `--listen PORT` binds) is reached at ::1, or at 127.0.0.1 where this
 * network namespace has no IPv6 loopback (net.ipv6.conf.*.disable_ipv6=1: connecting to ::1 then
 * fails with EADDRNOTAVAIL, and the monitor never passed; issue 15 item 5). sockrun's own `::`
 * binds are dual-stack, so 127.0.0.1 reaches them.
 */
export function appTarget(sockets: SocketInfo[], ipv6Loopback = hasIpv6Loopback): AppTarget | undefined {
  const s = sockets[0];
  if (!s) return undefined;
  if (s.kind === 'unix') return s.path ? { socketPath: s.path } : undefined;
  if (s.port === undefined) return undefined;
  const wildcard6 = s.host === undefined || s.host === '::';
  const host = wildcard6 ? (ipv6Loopback() ? '::1' : '127.0.0.1') : s.host === '0.0.0.0' ? '127.0.0.1' : s.host!;
  return { host, port: s.port };
}

/** `::1` is on an interface (it is not where IPv6 is disabled); true when that cannot be read. */
function hasIpv6Loopback(): boolean {
  try {
    return Object.values(os.networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === '::1'));
  } catch {
    return true;
  }
}

/** Responses are read and thrown away; more than this is not a health check, and fails it. */
const MAX_BODY_BYTES = 64 * 1024;

/** One GET of `path` through `target`; never rejects. */
export function probeApp(target: AppTarget, path: string, timeoutMs: number): Promise<CheckOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean, message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ok, message: oneLine(message), at: Date.now() });
    };
    const req = http.request({
      ...target,
      path,
      method: 'GET',
      agent: false,
      headers: { host: 'localhost', connection: 'close', 'user-agent': 'sockrun-ecv-monitor' },
    }, (res) => {
      const status = res.statusCode ?? 0;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_BODY_BYTES) done(false, `GET ${path} → ${status}, body over ${MAX_BODY_BYTES} bytes`);
      });
      res.on('end', () => {
        const ms = Date.now() - started;
        done(status >= 200 && status < 300, `GET ${path} → ${status} in ${ms} ms`);
      });
      res.on('error', (err) => done(false, `GET ${path}: ${err.message}`));
    });
    const timer = setTimeout(() => done(false, `GET ${path}: no answer within ${timeoutMs} ms`), timeoutMs).unref();
    req.on('error', (err: NodeJS.ErrnoException) => done(false, `GET ${path}: ${err.code ?? err.message}`));
    req.end();
  });
}
