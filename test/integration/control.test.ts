/**
 * The control socket against a local attacker (issue 15 item 1) and the control commands' exit
 * codes (item 7). "Another user" is uid 65534 (nobody); tests run as root, as CI does.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { CLI, FIXTURES, Sockrun, cleanup, eventually, exitOf, freePort, killQuietly, request } from '../helpers/sockrun';

const hello = path.join(FIXTURES, 'hello.js');
const slowBoot = path.join(FIXTURES, 'slow-boot.js');
const NOBODY = 65534;
const asRoot = process.geteuid?.() === 0;
const rootOnly = asRoot ? test : test.skip;

/** A temp directory like /tmp: world-writable, sticky. */
let shared: string;
const started: ChildProcess[] = [];
beforeEach(() => {
  shared = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-shared-'));
  fs.chmodSync(shared, 0o1777);
});
afterEach(async () => {
  for (const c of started.splice(0)) killQuietly(c.pid!);
  await cleanup();
  fs.rmSync(shared, { recursive: true, force: true });
});

/** `sockrun <command> ...` to completion. */
const control = (args: string[], env: NodeJS.ProcessEnv = {}, uid?: number) =>
  exitOf(spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, uid, gid: uid }));

/** A socket of another user at `p` that answers every command like a master would, falsely. */
async function plantFakeMaster(p: string): Promise<void> {
  const script = `require('net').createServer((c) => c.end(JSON.stringify({ ok: true, message: 'generation 42 serving', durationMs: 1, status: { pid: 42 } }) + '\\n')).listen(${JSON.stringify(p)})`;
  const fake = spawn(process.execPath, ['-e', script], { stdio: 'ignore', uid: NOBODY, gid: NOBODY });
  started.push(fake);
  await eventually(() => fs.existsSync(p), 5000, 'the fake socket');
}

describe('the control socket: a private place, trusted only if it is the master\'s', () => {
  rootOnly('names squatted in the shared temp directory by another user do not stop a root master (before: exit 1, EISDIR)', async () => {
    // The master's pid is known before it runs: a shell waits for the squat, then execs sockrun.
    const sh = spawn('sh', ['-c', `read go; exec "${process.execPath}" "${CLI}" --log-format json -w 1 -l 127.0.0.1:0 "${hello}"`],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: shared } });
    started.push(sh);
    const squat = path.join(shared, `sockrun-${sh.pid}.sock`);
    fs.mkdirSync(squat);
    fs.chownSync(squat, NOBODY, NOBODY);
    let out = '';
    sh.stdout!.on('data', (d) => (out += d));
    sh.stdin!.end('go\n');
    await eventually(() => out.includes('"msg":"ready"'), 15_000, 'ready');
    const status = await control(['status', '--pid', String(sh.pid), '--json'], { TMPDIR: shared });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ pid: sh.pid, state: 'READY' });
  });

  rootOnly('a socket another user planted where an old client would look is never talked to (before: "generation 42 serving", exit 0)', async () => {
    const runtime = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-runtime-'));
    try {
      const s = new Sockrun(['-w', '1', '-l', '127.0.0.1:0', hello], { env: { RUNTIME_DIRECTORY: runtime } });
      await s.ready();
      await plantFakeMaster(path.join(shared, `sockrun-${s.pid}.sock`));
      // A client without the master's RUNTIME_DIRECTORY (an operator's shell) finds the real one.
      const env = { TMPDIR: shared, RUNTIME_DIRECTORY: '' };
      const reload = await control(['reload', '--pid', String(s.pid)], env);
      expect(reload.stdout).not.toContain('generation 42');
      expect(reload).toMatchObject({ code: 0, stdout: expect.stringMatching(/^reloaded: generation 2 serving/) });
      // Pointed at the planted socket explicitly, the client refuses it: it is not the master user's.
      const told = await control(['reload', '--pid', String(s.pid), '--control-socket', path.join(shared, `sockrun-${s.pid}.sock`)], env);
      expect(told.code).toBe(ExitCode.CONTROL_FAILED);
      expect(told.stderr.trim().split('\n')).toHaveLength(1);
      expect(told.stderr).toMatch(/^sockrun: cannot use the control socket: .* belongs to uid 65534, not to the master's user \(uid 0\)$/m);
    } finally {
      fs.rmSync(runtime, { recursive: true, force: true });
    }
  });

  rootOnly('an unprivileged master keeps its control socket in a 0700 directory of its own; one another user made first is refused with one line', async () => {
    const s = new Sockrun(['-w', '1', '-l', '127.0.0.1:0', hello], { env: { TMPDIR: shared }, uid: NOBODY, gid: NOBODY });
    await s.ready();
    const own = fs.statSync(path.join(shared, `sockrun-${NOBODY}`));
    expect({ uid: own.uid, mode: (own.mode & 0o777).toString(8) }).toEqual({ uid: NOBODY, mode: '700' });
    expect(fs.statSync(path.join(shared, `sockrun-${NOBODY}`, `sockrun-${s.pid}.sock`)).mode & 0o777).toBe(0o600);
    const status = await control(['status', '--pid', String(s.pid)], { TMPDIR: shared }, NOBODY);
    expect(status.code).toBe(0);
    s.signal('SIGTERM');
    expect((await s.exited).code).toBe(0);

    fs.rmSync(path.join(shared, `sockrun-${NOBODY}`), { recursive: true });
    fs.mkdirSync(path.join(shared, `sockrun-${NOBODY}`), { mode: 0o755 }); // root's, made first
    const refused = new Sockrun(['-w', '1', '-l', '127.0.0.1:0', hello], { env: { TMPDIR: shared }, uid: NOBODY, gid: NOBODY });
    expect((await refused.exited).code).toBe(ExitCode.PATH_UNUSABLE);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/no private directory for the control socket .*sockrun-65534: owned by uid 0, mode 755.*set RUNTIME_DIRECTORY or --control-socket/);
  });

  test('--control-socket never removes what is not a stale socket of the master\'s own (before: any file there was deleted)', async () => {
    const file = path.join(shared, 'precious');
    fs.writeFileSync(file, 'data\n');
    const s = new Sockrun(['-w', '1', '-l', '127.0.0.1:0', '--control-socket', file, hello]);
    expect((await s.exited).code).toBe(ExitCode.PATH_UNUSABLE);
    expect(s.stderr.trim().split('\n')).toHaveLength(1);
    expect(s.stderr).toMatch(/control socket .*precious: exists and is not a socket; not removing it/);
    expect(fs.readFileSync(file, 'utf8')).toBe('data\n');
    expect(fs.readdirSync(shared)).toEqual(['precious']);
  });
});

describe('control commands answer with their own exit codes', () => {
  test('sockrun reload while the master is still starting: exit 14, not 11 ("rollout aborted")', async () => {
    const pidFile = path.join(shared, 'app.pid');
    const s = new Sockrun(['-w', '1', '-l', '127.0.0.1:0', '--pid-file', pidFile, slowBoot], { env: { BOOT_DELAY_MS: '60000' } });
    await eventually(() => fs.existsSync(pidFile), 15_000, 'the pid file');
    const r = await control(['reload', '--pid-file', pidFile]);
    expect(r.code).toBe(ExitCode.NOT_READY);
    expect(r.stderr.trim()).toBe('sockrun reload: reload ignored while STARTING');
    expect(s.lines.some((l) => l.msg === 'ready')).toBe(false);
  });

  test('sockrun shutdown exits with the master\'s exit code: 9 when the drain had to kill (before: 0)', async () => {
    const p = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${p}`, '--graceful-timeout', '500ms', hello]);
    await s.ready();
    const slow = request({ port: p }, '/slow?ms=20000').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const r = await control(['shutdown', '--pid', String(s.pid)]);
    expect(r).toMatchObject({ code: ExitCode.DRAIN_FORCED, stdout: `master ${s.pid} stopped (exit 9)\n` });
    expect((await s.exited).code).toBe(ExitCode.DRAIN_FORCED);
    await slow;
  });
});
