/**
 * The master's control socket: a unix socket (mode 0600) speaking one JSON object per line.
 * `{"cmd":"status"}`, `{"cmd":"reload"}` (answered when the rollout ends), `{"cmd":"shutdown"}`,
 * `{"cmd":"stop"}`. Only the service's own user can connect; there is no remote form.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Logger } from 'pino';
import type { Master } from '../master/master';

const MAX_REQUEST_BYTES = 4096;

export async function startControlServer(master: Master, socketPath: string, log: Logger): Promise<net.Server> {
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.setTimeout(10_000, () => conn.destroy());
    conn.on('error', () => {});
    conn.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES) return conn.end(JSON.stringify({ ok: false, message: 'request too large' }) + '\n');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      conn.removeAllListeners('data');
      conn.setTimeout(0);
      void handle(line).then((reply) => conn.end(JSON.stringify(reply) + '\n'));
    });
  });
  const handle = async (line: string): Promise<object> => {
    let cmd: unknown;
    try {
      cmd = (JSON.parse(line) as { cmd?: unknown }).cmd;
    } catch {
      return { ok: false, message: 'malformed request: expected a JSON object' };
    }
    if (cmd === 'status') return { ok: true, status: master.snapshot() };
    if (cmd === 'reload' || cmd === 'shutdown' || cmd === 'stop') {
      log.info({ cmd }, 'control command');
      return master.control(cmd);
    }
    return { ok: false, message: `unknown command ${JSON.stringify(cmd)}` };
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      // Only the service's own user may reload or stop it (connect(2) needs write permission).
      fs.chmodSync(socketPath, 0o600);
      resolve();
    });
  });
  server.unref();
  return server;
}
