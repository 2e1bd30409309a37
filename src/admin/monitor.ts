/**
 * The ECV monitor (cluster2 `ecv.monitor`): the master GETs a path of the app through the app's
 * real listening socket, so a worker answers it exactly as it answers clients; 2xx within the
 * timeout passes. The master never listens on that socket (sockets/hold.ts): it is a plain
 * client connecting to it, like any other, and the kernel hands the connection to a worker.
 */
import * as http from 'node:http';
import type { SocketInfo } from '../protocol';
import { CheckOutcome, oneLine } from './checks';

/** Where a client reaches the app: the first socket, a wildcard address replaced by loopback. */
export type AppTarget = { host: string; port: number } | { socketPath: string };

export function appTarget(sockets: SocketInfo[]): AppTarget | undefined {
  const s = sockets[0];
  if (!s) return undefined;
  if (s.kind === 'unix') return s.path ? { socketPath: s.path } : undefined;
  if (s.port === undefined) return undefined;
  const host = s.host === undefined || s.host === '::' ? '::1' : s.host === '0.0.0.0' ? '127.0.0.1' : s.host;
  return { host, port: s.port };
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
