/**
 * Who may change state through the admin port (POST /ecv/enable, /ecv/disable): a client that
 * presents the bearer token from --admin-token-file, or any client of a unix admin socket
 * (mode 0600: the file system already decided it is the service's own user). Everyone else
 * gets 401 (no credentials) or 403 (wrong credentials, or no way to authenticate at all).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs = require('node:fs');
import type { IncomingMessage } from 'node:http';
import { usageError } from '../errors';

/** A bearer token read from a file, re-read when the file changes (a rotated Kubernetes secret). */
export class TokenFile {
  private constructor(readonly file: string, private digest: Buffer, private mtimeMs: number) {}

  /** Reads the token now: a missing, unreadable or empty file is a usage error at start. */
  static open(file: string): TokenFile {
    const { digest, mtimeMs } = TokenFile.read(file);
    return new TokenFile(file, digest, mtimeMs);
  }

  /** True if the file is readable by others than its owner (worth a warning, not an error). */
  get exposed(): boolean {
    try {
      return (fs.statSync(this.file).mode & 0o077) !== 0;
    } catch {
      return false;
    }
  }

  /** Constant-time comparison: both sides are hashed first, so not even the length leaks. */
  async matches(presented: string): Promise<boolean> {
    await this.refresh();
    return timingSafeEqual(sha256(presented), this.digest);
  }

  private async refresh(): Promise<void> {
    try {
      const st = await fs.promises.stat(this.file);
      if (st.mtimeMs === this.mtimeMs) return;
      const { digest, mtimeMs } = TokenFile.read(this.file);
      this.digest = digest;
      this.mtimeMs = mtimeMs;
    } catch {
      // Mid-rotation or gone: keep the token we have rather than lock everyone out or let anyone in.
    }
  }

  private static read(file: string): { digest: Buffer; mtimeMs: number } {
    let text: string;
    let mtimeMs: number;
    try {
      text = fs.readFileSync(file, 'utf8');
      mtimeMs = fs.statSync(file).mtimeMs;
    } catch (err) {
      throw usageError(`--admin-token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const token = text.trim();
    if (token === '') throw usageError(`--admin-token-file ${file}: the file is empty`);
    if (/\s/.test(token)) throw usageError(`--admin-token-file ${file}: the token must be one word (no spaces or newlines inside)`);
    return { digest: sha256(token), mtimeMs };
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export type Transport = 'tcp' | 'unix';

export type Decision =
  | { ok: true; who: string }
  | { ok: false; status: 401 | 403; message: string; headers?: Record<string, string> };

const CHALLENGE = { 'www-authenticate': 'Bearer realm="sockrun-admin"' };

/** Decides whether `req` may change state. */
export async function authorize(req: IncomingMessage, transport: Transport, token: TokenFile | undefined): Promise<Decision> {
  const header = req.headers.authorization;
  if (header === undefined) {
    if (transport === 'unix') return { ok: true, who: 'unix socket' };
    if (token === undefined) {
      return { ok: false, status: 403, message: 'state-changing requests need --admin-token-file, or a unix admin socket' };
    }
    return { ok: false, status: 401, message: 'a bearer token is required', headers: CHALLENGE };
  }
  // A presented credential is always checked, even on the unix socket: a wrong one is a mistake worth refusing.
  const m = /^Bearer +(\S+) *$/i.exec(header);
  if (!m) return { ok: false, status: 401, message: 'expected "Authorization: Bearer <token>"', headers: CHALLENGE };
  if (token === undefined) {
    return { ok: false, status: 403, message: 'no --admin-token-file is configured; tokens are not accepted' };
  }
  if (!(await token.matches(m[1]))) return { ok: false, status: 403, message: 'invalid token' };
  return { ok: true, who: 'bearer token' };
}
