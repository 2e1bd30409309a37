/**
 * Unix socket files sockrun creates (`--listen unix:`, the control socket): never remove a file
 * sockrun did not create. A path is unlinked only while it is still the inode sockrun bound, or
 * when it is a socket of this user that nobody listens on any more (a crash's leftover).
 */
import fs = require('node:fs');
import net = require('node:net');
import path = require('node:path');

/** The inode a path named when sockrun created it. */
export interface PathIdentity {
  path: string;
  dev: number;
  ino: number;
}

export function identify(p: string): PathIdentity {
  const st = fs.statSync(p);
  return { path: p, dev: st.dev, ino: st.ino };
}

/** Unlinks the path while it is still that inode; true when it did. Never throws. */
export function unlinkIfOurs(id: PathIdentity): boolean {
  try {
    const st = fs.lstatSync(id.path);
    if (st.dev !== id.dev || st.ino !== id.ino) return false;
    fs.unlinkSync(id.path);
    return true;
  } catch {
    return false;
  }
}

export type PathState =
  | { kind: 'free' }
  /** A socket of this user that refuses connections: nobody listens on it. */
  | { kind: 'stale'; identity: PathIdentity }
  /** Something accepts connections there. */
  | { kind: 'live' }
  /** Not ours to remove: `why` completes "<path> ...". */
  | { kind: 'other'; why: string };

/** What is at `p`, for a caller about to bind a unix socket there. */
export async function probeUnixPath(p: string): Promise<PathState> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return { kind: 'free' };
  }
  if (!st.isSocket()) return { kind: 'other', why: 'exists and is not a socket' };
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== uid) return { kind: 'other', why: `is a socket of uid ${st.uid}, not of this user (uid ${uid})` };
  const answer = await new Promise<string | undefined>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(undefined);
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  if (answer === undefined) return { kind: 'live' };
  if (answer === 'ENOENT') return { kind: 'free' };
  if (answer === 'ECONNREFUSED') return { kind: 'stale', identity: { path: p, dev: st.dev, ino: st.ino } };
  return { kind: 'other', why: `cannot be connected to (${answer})` };
}

/** sun_path holds 108 bytes, the last one a NUL. */
const MAX_UNIX_PATH = 107;

/**
 * A fresh name in `p`'s directory to bind a socket at before it is linked into place, or
 * undefined when such a name would be too long for a unix socket address.
 *
 * Why not bind `p` itself: libuv remembers the path it bound and unlinks it when the handle is
 * closed, whatever is at that path by then (another instance's socket, someone's file). A socket
 * bound at a temporary name and linked to `p` leaves libuv only the temporary name to unlink,
 * which is gone by then. The cost: the kernel keeps the name a socket was bound at, so `ss -x`
 * and getsockname() show `.app.sock.1a2b3c4d` beside `app.sock`.
 */
export function temporaryName(p: string): string | undefined {
  // Not node:crypto (it costs the master ~10 ms and ~1 MB at start, issue 16): the name only has to
  // differ from its neighbours'; binding it fails rather than replaces anything (EADDRINUSE).
  const suffix = Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  const name = path.join(path.dirname(p), `.${path.basename(p)}.${suffix}`);
  return Buffer.byteLength(name) <= MAX_UNIX_PATH ? name : undefined;
}

/**
 * Puts the socket bound (and listening) at `temp` in place at `p` with link(2), which never
 * replaces anything: a stale socket of this user at `p` is removed and the link retried once.
 * Returns the new identity of `p`, or what stands in the way (`live`: someone listens there).
 * `temp` is removed in every case.
 */
export async function linkIntoPlace(temp: string, p: string): Promise<{ placed: PathIdentity } | { blocked: Exclude<PathState, { kind: 'free' | 'stale' }> }> {
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(temp, p);
        return { placed: identify(p) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
          return { blocked: { kind: 'other', why: `cannot be created (${(err as NodeJS.ErrnoException).code})` } };
        }
      }
      const found = await probeUnixPath(p);
      if (found.kind === 'live' || found.kind === 'other') return { blocked: found };
      if (found.kind === 'stale') unlinkIfOurs(found.identity);
    }
  } finally {
    fs.rmSync(temp, { force: true });
  }
}
