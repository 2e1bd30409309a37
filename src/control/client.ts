/**
 * `sockrun reload|shutdown|stop|status`: finds the master by --pid or --pid-file, checks it
 * really is a sockrun master (a stale pid file must never signal a random process), then talks
 * to its control socket.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { SockrunError } from '../errors';
import { controlSocketPath } from './paths';

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
  const socketPath = controlSocketPath(pid, t.controlSocket);
  if (!fs.existsSync(socketPath)) {
    throw new SockrunError('SOCKRUN_ERR_NO_MASTER', `process ${pid} is not a sockrun master (no control socket ${socketPath})`);
  }
  return { pid, socketPath };
}

export function request(socketPath: string, cmd: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socketPath);
    let buf = '';
    const timer = timeoutMs > 0 ? setTimeout(() => {
      conn.destroy();
      reject(new SockrunError('SOCKRUN_ERR_CONTROL', `no answer from the master within ${timeoutMs} ms`));
    }, timeoutMs) : undefined;
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify({ cmd }) + '\n'));
    conn.on('data', (d: string) => (buf += d));
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(new SockrunError('SOCKRUN_ERR_CONTROL', `cannot reach the master at ${socketPath}: ${err.message}`));
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
