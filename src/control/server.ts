/**
 * The master's control socket: a unix socket (mode 0600, in a private directory: paths.ts)
 * speaking one JSON object per line. `{"cmd":"status"}`, `{"cmd":"reload"}` (answered when the
 * rollout ends), `{"cmd":"shutdown"}`, `{"cmd":"stop"}`; with `"wait":true` the last two are
 * answered once the master stopped, with its exit code. Only the service's own user can connect;
 * there is no remote form.
 */
import fs = require('node:fs');
import net = require('node:net');
import type { Logger } from 'pino';
import { SockrunError } from '../errors';
import type { Master } from '../master/master';
import { linkIntoPlace, temporaryName, unlinkIfOurs } from '../sockets/unix-path';

const MAX_REQUEST_BYTES = 4096;

export interface ControlServer {
  /** Stops listening and removes the socket file while it is still this server's. */
  close(): void;
}

/**
 * Listens at `socketPath` without ever removing anything there but a stale socket of this user
 * (bound at a temporary name, chmod 0600, then linked into place). Throws PATH_UNUSABLE when
 * the path cannot be created or is taken.
 */
export async function startControlServer(master: Master, socketPath: string, log: Logger): Promise<ControlServer> {
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
    let request: { cmd?: unknown; wait?: unknown };
    try {
      request = JSON.parse(line) as typeof request;
    } catch {
      return { ok: false, message: 'malformed request: expected a JSON object' };
    }
    const { cmd } = request;
    if (cmd === 'status') return { ok: true, status: master.snapshot() };
    if (cmd === 'reload' || cmd === 'shutdown' || cmd === 'stop') {
      log.info({ cmd }, 'control command');
      const result = await master.control(cmd);
      if (cmd === 'reload' || !result.ok || request.wait !== true) return result;
      return { ...result, exitCode: await master.finished };
    }
    return { ok: false, message: `unknown command ${JSON.stringify(cmd)}` };
  };

  const unusable = (why: string) => new SockrunError('SOCKRUN_ERR_PATH', `control socket ${socketPath}: ${why}`);
  const temp = temporaryName(socketPath);
  if (temp === undefined) throw unusable('the path is too long for a unix socket');
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(unusable(`cannot create it (${err.code ?? err.message})`)));
    server.listen(temp, () => resolve());
  });
  // Only the service's own user may reload or stop it (connect(2) needs write permission).
  fs.chmodSync(temp, 0o600);
  const result = await linkIntoPlace(temp, socketPath);
  if ('blocked' in result) {
    server.close();
    throw unusable(result.blocked.kind === 'live' ? 'another process (another sockrun master?) listens there' : `${result.blocked.why}; not removing it`);
  }
  server.unref();
  return {
    close: () => {
      server.close();
      unlinkIfOurs(result.placed);
    },
  };
}
