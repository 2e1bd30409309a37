/**
 * Signals sent while sockrun starts (issue 15 item 2): handled from the first instant, never
 * fatal (SIGHUP's default action), never lost (PID 1 of a container drops what it has no handler
 * for), and never leaving a pid file or control socket behind.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, FIXTURES, Sockrun, childPids, cleanup, eventually, isAlive, killQuietly, request } from '../helpers/sockrun';

const slowBoot = path.join(FIXTURES, 'slow-boot.js');
let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-signals-'))));
afterEach(async () => {
  await cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Resolves as soon as `file` exists (polled every 2 ms: sooner than any handler used to be installed). */
async function appears(file: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} never appeared`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The signals a process has handlers for (/proc/PID/status SigCgt). */
function caught(pid: number): string[] {
  const mask = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]}`);
  return Object.entries({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 }).filter(([, n]) => (mask >> BigInt(n - 1)) & 1n).map(([s]) => s);
}

const controlSockets = (pid: number) => ['/run/sockrun', path.join(os.tmpdir(), 'sockrun-0')].map((d) => path.join(d, `sockrun-${pid}.sock`)).filter((p) => fs.existsSync(p));

test('the pid file appears only once SIGHUP, SIGTERM, SIGINT and SIGQUIT have handlers', async () => {
  const pidFile = path.join(dir, 'app.pid');
  const s = new Sockrun(['-w', '1', '-l', '127.0.0.1:0', '--pid-file', pidFile, slowBoot]);
  await appears(pidFile);
  expect(caught(s.pid).sort()).toEqual(['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM']);
});

test('a SIGHUP the instant the pid file appears does not kill the master: it starts, serves, and a later SIGTERM cleans up', async () => {
  const pidFile = path.join(dir, 'app.pid');
  const s = new Sockrun(['-w', '1', '-l', '127.0.0.1:0', '--pid-file', pidFile, slowBoot], { env: { BOOT_DELAY_MS: '500' } });
  await appears(pidFile);
  s.signal('SIGHUP');
  await s.ready();
  expect(isAlive(s.pid)).toBe(true);
  expect(s.lines.some((l) => l.msg === 'reload ignored while STARTING')).toBe(true);
  const port = Number(/:(\d+) \(/.exec(String((await s.waitFor('starting')).sockets))![1]);
  expect((await request({ port }, '/')).status).toBe(200);
  s.signal('SIGTERM');
  expect(await s.exited).toEqual({ code: 0, signal: null });
  expect(fs.existsSync(pidFile)).toBe(false);
  expect(controlSockets(s.pid)).toEqual([]);
});

const canUnsharePid = spawnSync('unshare', ['--pid', '--fork', 'true']).status === 0;
(canUnsharePid || process.env.CI ? test : test.skip)('as PID 1 of a container, a SIGTERM the instant the pid file appears stops the master before it serves', async () => {
  const pidFile = path.join(dir, 'app.pid');
  const log = path.join(dir, 'log');
  // `unshare --pid --fork` as a container runtime would: sockrun is PID 1 of its own pid namespace.
  const runtime: ChildProcess = spawn('unshare', ['--pid', '--fork', '--kill-child', '--', process.execPath, CLI, '--log-format', 'json',
    '-w', '2', '-l', '127.0.0.1:0', '--pid-file', pidFile, slowBoot], { stdio: ['ignore', fs.openSync(log, 'w'), 'inherit'] });
  const exited = new Promise<number | null>((r) => runtime.once('exit', r));
  try {
    await appears(pidFile);
    expect(fs.readFileSync(pidFile, 'utf8').trim()).toBe('1');
    const master = await eventually(() => childPids(runtime.pid!)[0], 5000, 'the master');
    killQuietly(master, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('still running'), 10_000)))]);
    clearTimeout(timer);
    expect(code).toBe(0);
    const lines = fs.readFileSync(log, 'utf8');
    expect(lines).toContain('"msg":"received SIGTERM"');
    expect(lines).not.toContain('"msg":"ready"');
    expect(fs.existsSync(pidFile)).toBe(false);
  } finally {
    killQuietly(runtime.pid!);
    await exited;
  }
});

test('a SIGTERM that reaches the master and its booting workers together (systemd\'s KillMode=control-group), while the master still starts: a clean drain, exit 0, not a boot failure', async () => {
  // A validator that takes 3 s to load keeps the master starting (its admin port loads after
  // the first spawn) while the workers, spawned first, already listen.
  const validator = path.join(dir, 'slow-validator.js');
  fs.writeFileSync(validator, 'const end = Date.now() + 3000; while (Date.now() < end);\nmodule.exports = async () => true;\n');
  const s = new Sockrun(['-w', '2', '-l', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--validator', validator, path.join(FIXTURES, 'hello.js')]);
  await eventually(() => (s.stdout.match(/app listening/g) ?? []).length === 2, 10_000, 'both workers listening');
  const workers = childPids(s.pid);
  expect(workers).toHaveLength(2);
  expect(s.lines.some((l) => l.msg === 'ready')).toBe(false);
  for (const pid of [s.pid, ...workers]) killQuietly(pid, 'SIGTERM');
  const { code } = await s.exited;
  expect(s.lines.filter((l) => l.msg === 'worker exited').map((l) => l.reason)).toEqual(['shutdown', 'shutdown']);
  expect(code).toBe(0);
});
