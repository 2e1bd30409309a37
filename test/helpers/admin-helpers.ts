/**
 * Helpers for the admin port tests: start sockrun with an admin address, call it with any
 * method, body and headers, and talk raw bytes to it for hostile clients.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { FIXTURES, Reply, Sockrun, freePort, request } from './sockrun';

export const ADMIN_APP = path.join(FIXTURES, 'admin', 'app.js');
export const VALIDATOR = path.join(FIXTURES, 'admin', 'validator.js');

export interface Target {
  port?: number;
  socketPath?: string;
}

export interface Started {
  s: Sockrun;
  appPort: number;
  admin: Target;
  dir: string;
  /** Files the fixture app and validator read (test/fixtures/admin/*.js). */
  files: { hold: string; health: string; validator: string; token: string };
}

export const TOKEN = 'k8s-probe-token-0123456789abcdef';

/**
 * Starts `sockrun --admin 127.0.0.1:<free port> -l 127.0.0.1:<free port> --admin-token-file
 * <TOKEN in a file> <extra> app` (`token: false` leaves the token out), and waits for the admin port (not for readiness: tests decide what to wait for).
 */
export async function startAdmin(extra: string[], opts: { app?: string; env?: NodeJS.ProcessEnv; admin?: string; workers?: number; token?: boolean; appArgs?: string[] } = {}): Promise<Started> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-admin-'));
  const files = {
    hold: path.join(dir, 'hold'),
    health: path.join(dir, 'health'),
    validator: path.join(dir, 'validator'),
    token: path.join(dir, 'token'),
  };
  fs.writeFileSync(files.token, `${TOKEN}\n`, { mode: 0o600 });
  const appPort = await freePort();
  const adminPort = await freePort();
  const adminArg = opts.admin ?? `127.0.0.1:${adminPort}`;
  const s = new Sockrun([
    '-w', String(opts.workers ?? 2), '-l', `127.0.0.1:${appPort}`, '--admin', adminArg,
    ...(opts.token === false ? [] : ['--admin-token-file', files.token]), ...extra, opts.app ?? ADMIN_APP, ...(opts.appArgs ?? []),
  ], { env: { HOLD_FILE: files.hold, HEALTH_FILE: files.health, VALIDATOR_STATE: files.validator, ...opts.env } });
  await s.waitFor('admin port listening');
  const admin = adminArg.startsWith('unix:') ? { socketPath: adminArg.slice(5) } : { port: adminPort };
  return { s, appPort, admin, dir, files };
}

/** One HTTP request with any method, headers and body; rejects on transport errors. */
export function call(target: Target, method: string, pathName: string, opts: { headers?: http.OutgoingHttpHeaders; body?: string; timeoutMs?: number } = {}): Promise<Reply> {
  return request(target, pathName, { method, headers: opts.headers, timeout: opts.timeoutMs ?? 15_000 }, opts.body);
}

export const get = (target: Target, p: string): Promise<Reply> => call(target, 'GET', p);

export const bearer = (token = TOKEN): http.OutgoingHttpHeaders => ({ authorization: `Bearer ${token}` });

/**
 * Sends raw bytes and collects what comes back until the server closes the connection or
 * `timeoutMs` passes. `closed` tells which.
 */
export function raw(target: Target, data: string | Buffer, timeoutMs = 10_000): Promise<{ text: string; closed: boolean; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const sock = target.socketPath ? net.connect(target.socketPath) : net.connect(target.port!, '127.0.0.1');
    let text = '';
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (text += d));
    sock.on('close', () => finish(true));
    sock.on('error', () => {});
    sock.write(data);
  });
}

/** The status code of the first response in raw text (0 if none). */
export function statusOf(text: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
