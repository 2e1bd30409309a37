/**
 * `sockrun reload|shutdown|stop|status`: finds the master by --pid or --pid-file, checks it
 * really is a sockrun master (a stale pid file must never signal a random process), then talks
 * to its control socket.
 */
import fs = require('node:fs');
import net = require('node:net');
import path = require('node:path');
import { SockrunError } from '../errors';
import { controlSocketCandidates, isPrivateDir } from './paths';

export interface Target {
  pid?: number;
  pidFile?: string;
  controlSocket?: string;
}

export function findMaster(t: Target): { pid: number; socketPath: string } {
  let pid = t.pid;
  if (pid === undefined) {
    if (!t.pidFile) throw new SockrunError('SOCKRUN_ERR_USAGE', 'say which master: --pid <pid> or --pid-file <path>');
    let text: string;
    try {
      text = fs.readFileSync(t.pidFile, 'utf8').trim();
    } catch {
      throw new SockrunError('SOCKRUN_ERR_NO_MASTER', `pid file ${t.pidFile} does not exist: is sockrun running?`);
    }
    if (!/^\d+$/.test(text)) throw new SockrunError('SOCKRUN_ERR_NO_MASTER', `pid file ${t.pidFile} does not hold a pid`);
    pid = Number(text);
  }
  if (!isAlive(pid)) throw new SockrunError('SOCKRUN_ERR_NO_MASTER', `no process ${pid}${t.pidFile ? ` (stale pid file ${t.pidFile})` : ''}`);
  // The master's own uid and environment: a socket is trusted only if it is the master user's,
  // in a directory no one else can write to (issue 15 item 1: a planted socket answered once).
  const uid = processUid(pid) ?? process.geteuid?.() ?? 0;
  const candidates = controlSocketCandidates(pid, t.controlSocket, processEnv(pid) ?? process.env, uid);
  let distrust: string | undefined;
  for (const socketPath of candidates) {
    const why = untrusted(socketPath, uid, t.controlSocket !== undefined);
    if (why === undefined) return { pid, socketPath };
    if (why !== 'missing') distrust ??= `${socketPath} ${why}`;
  }
  if (distrust) throw new SockrunError('SOCKRUN_ERR_CONTROL', `cannot use the control socket: ${distrust}`);
  throw new SockrunError('SOCKRUN_ERR_NO_MASTER', `process ${pid} is not a sockrun master (no control socket ${candidates.join(' or ')})`);
}

/** Why the socket at `p` must not be trusted to speak for a master of `uid`; 'missing' if absent. */
function untrusted(p: string, uid: number, explicit: boolean): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EACCES' ? `is out of this user's reach (EACCES; the master runs as uid ${uid})` : 'missing';
  }
  if (!st.isSocket()) return 'is not a socket';
  if (st.uid !== uid) return `belongs to uid ${st.uid}, not to the master's user (uid ${uid})`;
  const dir = path.dirname(path.resolve(p));
  if (!isPrivateDir(fs.statSync(dir), uid, explicit)) return `is in ${dir}, where other users can replace it`;
  return undefined;
}

/** The effective uid of a process (/proc/PID/status), undefined where that cannot be read. */
function processUid(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+\d+\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The variables that place a master's control socket, from its environment, where readable. */
function processEnv(pid: number): NodeJS.ProcessEnv | undefined {
  try {
    const env: NodeJS.ProcessEnv = {};
    for (const entry of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = entry.indexOf('=');
      const key = entry.slice(0, eq);
      if (['RUNTIME_DIRECTORY', 'XDG_RUNTIME_DIR', 'TMPDIR', 'TMP', 'TEMP'].includes(key)) env[key] = entry.slice(eq + 1);
    }
    return env;
  } catch {
    return undefined;
  }
}

/** Sends one command (with `extra` fields) and resolves with the master's answer; 0 = no time limit. */
export function request(socketPath: string, cmd: string, timeoutMs: number, extra: object = {}): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socketPath);
    let buf = '';
    const timer = timeoutMs > 0 ? setTimeout(() => {
      conn.destroy();
      reject(new SockrunError('SOCKRUN_ERR_CONTROL', `no answer from the master within ${timeoutMs} ms`));
    }, timeoutMs) : undefined;
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify({ ...extra, cmd }) + '\n'));
    conn.on('data', (d: string) => (buf += d));
    conn.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // Nobody listens on it: the socket file of a master that was killed (SIGKILL leaves it),
      // and the pid now belongs to someone else (or to nobody's master).
      if (err.code === 'ECONNREFUSED') reject(new SockrunError('SOCKRUN_ERR_NO_MASTER', `nothing listens on ${socketPath}: that process is not a sockrun master (the file is left from one that was killed)`));
      else reject(new SockrunError('SOCKRUN_ERR_CONTROL', `cannot reach the master at ${socketPath}: ${err.message}`));
    });
    conn.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as Record<string, unknown>);
      } catch {
        reject(new SockrunError('SOCKRUN_ERR_CONTROL', 'the master closed the connection without an answer'));
      }
    });
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
