/**
 * Where a master's control socket lives (issue 15 item 1): never a predictable name in a
 * world-writable directory, where another local user could squat the name (the master then
 * failed to start) or plant a socket that answers in the master's place.
 *
 * Default: `sockrun-<pid>.sock` in the first usable of
 *   $RUNTIME_DIRECTORY (systemd RuntimeDirectory=, shared by ExecStart= and ExecReload=),
 *   $XDG_RUNTIME_DIR (a login session's own directory),
 *   /run/sockrun (root),
 *   $TMPDIR/sockrun-<uid> (created 0700),
 * where usable means a directory owned by the master's user that nobody else may write to.
 * `--control-socket PATH` overrides it. Master and client derive the same list from the master's
 * environment (the client reads it from /proc/<pid>/environ when it may).
 */
import fs = require('node:fs');
import path = require('node:path');
import { SockrunError } from '../errors';

/** The directories a default control socket may live in, in order of preference; `own`: sockrun creates it. */
export function controlDirs(env: NodeJS.ProcessEnv, uid: number): { dir: string; own: boolean }[] {
  const dirs: { dir: string; own: boolean }[] = [];
  const runtime = env.RUNTIME_DIRECTORY?.split(':')[0];
  if (runtime) dirs.push({ dir: runtime, own: false });
  if (env.XDG_RUNTIME_DIR) dirs.push({ dir: env.XDG_RUNTIME_DIR, own: false });
  if (uid === 0) dirs.push({ dir: '/run/sockrun', own: true });
  dirs.push({ dir: path.join(tempDir(env), `sockrun-${uid}`), own: true });
  return dirs;
}

export const socketName = (pid: number): string => `sockrun-${pid}.sock`;

/** os.tmpdir() for an environment that may not be this process's own. */
function tempDir(env: NodeJS.ProcessEnv): string {
  const dir = env.TMPDIR || env.TMP || env.TEMP || '/tmp';
  return dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
}

/**
 * A directory no one but `uid` (and root) can add or replace files in: owned by `uid` (or by
 * root), not writable by group or others — unless sticky, as /tmp, where others cannot remove
 * or rename what is not theirs (`allowSticky`, for an explicit --control-socket).
 */
export function isPrivateDir(st: fs.Stats, uid: number, allowSticky = false): boolean {
  if (!st.isDirectory() || (st.uid !== uid && st.uid !== 0)) return false;
  return (st.mode & 0o022) === 0 || (allowSticky && (st.mode & 0o1000) !== 0);
}

/**
 * The master's side: the path to listen on, its directory created (0700) where it is sockrun's
 * own. Throws PATH_UNUSABLE with one line saying why and what to do.
 */
export function controlSocketForMaster(pid: number, explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.geteuid?.() ?? 0;
  if (explicit) {
    const dir = path.dirname(path.resolve(explicit));
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw unusable(`--control-socket ${explicit}: cannot create the directory ${dir} (${(err as NodeJS.ErrnoException).code})`);
    }
    return explicit;
  }
  const tried: string[] = [];
  for (const { dir, own } of controlDirs(env, uid)) {
    if (own) {
      try {
        fs.mkdirSync(dir, { mode: 0o700 });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') {
          tried.push(`${dir}: ${code}`);
          continue;
        }
      }
    }
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dir);
    } catch (err) {
      tried.push(`${dir}: ${(err as NodeJS.ErrnoException).code}`);
      continue;
    }
    // Ours must be 0700 and this user's: another user who made it first could read or fill it.
    if (isPrivateDir(st, uid) && (!own || (st.uid === uid && (st.mode & 0o077) === 0))) return path.join(dir, socketName(pid));
    tried.push(`${dir}: ${st.isSymbolicLink() ? 'a symlink' : `owned by uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}`}`);
  }
  throw unusable(`no private directory for the control socket (${tried.join('; ')}): set RUNTIME_DIRECTORY or --control-socket`);
}

/** The client's side: where the control socket of `pid` may be, given the master's environment and uid. */
export function controlSocketCandidates(pid: number, explicit: string | undefined, env: NodeJS.ProcessEnv, uid: number): string[] {
  return explicit ? [explicit] : controlDirs(env, uid).map(({ dir }) => path.join(dir, socketName(pid)));
}

/** Where the control socket of `pid` is (the first candidate that exists), for tests and tools. */
export function controlSocketPath(pid: number, explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const candidates = controlSocketCandidates(pid, explicit, env, process.geteuid?.() ?? 0);
  return candidates.find((p) => fs.existsSync(p)) ?? candidates[0];
}

function unusable(message: string): SockrunError {
  return new SockrunError('SOCKRUN_ERR_PATH', message);
}
