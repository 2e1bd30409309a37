/**
 * Test helpers: start the real CLI (`node bin/sockrun.js`, built dist/), read its JSON log,
 * talk to it with real clients, and clean up only what the test started, by pid.
 */
import { ChildProcess, spawn, SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'sockrun.js');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

export interface LogLine {
  msg: string;
  [k: string]: unknown;
}

/** A running `sockrun` process with its parsed JSON log. */
export class Sockrun {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(args: string[], options: SpawnOptions = {}) {
    this.child = spawn(process.execPath, [CLI, '--log-format', 'json', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options,
      env: { ...process.env, ...options.env },
    });
    started.add(this);
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const raw = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!raw.startsWith('{')) continue;
        try {
          const line = JSON.parse(raw) as LogLine;
          this.lines.push(line);
          this.waiters = this.waiters.filter((w) => (w.test(line) ? (w.resolve(line), false) : true));
        } catch {
          // app output that happens to start with "{"
        }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      started.delete(this);
      resolve({ code, signal });
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first log line (past or future) matching `test`; rejects after `timeoutMs`. */
  waitFor(test: string | ((l: LogLine) => boolean), timeoutMs = 20_000): Promise<LogLine> {
    const t = typeof test === 'string' ? (l: LogLine) => l.msg === test : test;
    const seen = this.lines.find(t);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for log ${String(test)}; log:\n${this.stdout.slice(-3000)}\nstderr:\n${this.stderr.slice(-2000)}`)), timeoutMs);
      this.waiters.push({ test: t, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    });
  }

  ready(timeoutMs = 20_000): Promise<LogLine> {
    return this.waitFor('ready', timeoutMs);
  }

  /** Worker pids currently alive (children of the master). */
  workerPids(): number[] {
    return childPids(this.pid);
  }

  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch {
      // gone
    }
  }
}

const started = new Set<Sockrun>();

/** Kills every sockrun this test file started and its workers (by pid). Call in afterEach. */
export async function cleanup(): Promise<void> {
  for (const s of [...started]) {
    const workers = s.workerPids();
    s.signal('SIGKILL');
    for (const pid of workers) killQuietly(pid);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([s.exited, new Promise((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
  }
}

export function killQuietly(pid: number, sig: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

export function childPids(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns truthy or `timeoutMs` passes. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const handedOut = new Set<number>();

/**
 * A TCP port that was free a moment ago, on 127.0.0.1, and never handed out before in this test
 * process: the kernel may offer the same ephemeral port twice in a row, and a test asking for
 * an app port and an admin port must not get one port for both.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const { port: p } = s.address() as net.AddressInfo;
        s.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One HTTP request (any method, optional body); rejects on any transport error. */
export function request(target: { port?: number; host?: string; socketPath?: string }, pathName = '/', opts: http.RequestOptions = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.host ?? '127.0.0.1', port: target.port, socketPath: target.socketPath, path: pathName, agent: false, timeout: 15_000, ...opts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export interface LoadResult {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  pids: Map<string, number>;
}

/**
 * A steady client load until `stop()`: `concurrency` loops, each sending requests back to back,
 * with keep-alive or a new connection per request. Every failure (refused, reset, non-200) is
 * counted by kind; responses are counted per answering pid (the fixture replies "... <pid>").
 */
export function startLoad(port: number, opts: { concurrency?: number; keepAlive?: boolean; path?: string } = {}): { stop(): Promise<LoadResult>; result: LoadResult } {
  const result: LoadResult = { ok: 0, failed: 0, errors: {}, pids: new Map() };
  const agent = new http.Agent({ keepAlive: opts.keepAlive ?? false, maxSockets: opts.concurrency ?? 4 });
  let running = true;
  const loop = async () => {
    while (running) {
      try {
        const r = await request({ port }, opts.path ?? '/', { agent });
        if (r.status === 200) {
          result.ok++;
          const pid = /(\d+)\s*$/.exec(r.body)?.[1] ?? '?';
          result.pids.set(pid, (result.pids.get(pid) ?? 0) + 1);
        } else {
          result.failed++;
          result.errors[`http ${r.status}`] = (result.errors[`http ${r.status}`] ?? 0) + 1;
        }
      } catch (err) {
        result.failed++;
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        result.errors[code] = (result.errors[code] ?? 0) + 1;
        await sleep(5);
      }
    }
  };
  const loops = Array.from({ length: opts.concurrency ?? 4 }, loop);
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}

/** Runs a control command (`sockrun reload|status|shutdown|stop …`) to completion. */
export function control(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs the CLI with a socket its parent opened as fd 3, as einhorn or a container runtime
 * would: `socketPy` is Python (module `socket` imported) that leaves the socket in `s`.
 */
export function spawnWithFd3(socketPy: string, args: string[]): ChildProcess {
  const script = `import os,socket,sys\n${socketPy}\nos.dup2(s.fileno(),3); os.set_inheritable(3,True)\nos.execv(sys.argv[1], sys.argv[1:])`;
  return spawn('python3', ['-c', script, process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits for a child to exit; resolves with its exit code and what it wrote. */
export function exitOf(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}
