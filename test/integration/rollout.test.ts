/**
 * Safe rollouts (issue 12): no reload, recycle or respawn takes the service down — counted from
 * the clients' side, with apps that misbehave the way real ones do.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { FIXTURES, Sockrun, cleanup, control, eventually, freePort, killQuietly, request, sleep, startLoad } from '../helpers/sockrun';

afterEach(cleanup);

/** `count` requests with a new connection each, 4 at a time: how many failed, and which pids answered. */
async function sample(port: number, count = 200): Promise<{ failed: number; pids: Set<number> }> {
  const pids = new Set<number>();
  let failed = 0;
  const one = async () => {
    try {
      const r = await request({ port }, '/', { timeout: 5000 });
      if (r.status !== 200) failed++;
      pids.add(Number(/(\d+)\s*$/.exec(r.body)?.[1]));
    } catch {
      failed++;
    }
  };
  for (let i = 0; i < count; i += 4) await Promise.all([one(), one(), one(), one()]);
  return { failed, pids };
}

describe('new code that listens and then crashes never replaces the old generation', () => {
  test.each([
    ['blue/green (the default)', []],
    ['one at a time (--reload-surge 1)', ['--reload-surge', '1']],
  ])('%s: the reload aborts with exit 11 and the app\'s error; afterwards only the old generation serves, and nothing fails', async (_mode, extra) => {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-rollout-'));
    const crashFile = path.join(dir, 'CRASH');
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, ...extra, path.join(FIXTURES, 'listen-then-crash.js')], { env: { CRASH_FILE: crashFile } });
    await s.ready();
    const old = s.workerPids().sort();

    fs.writeFileSync(crashFile, '');
    const load = startLoad(port, { concurrency: 4 });
    const reload = await control(['reload', '--pid', String(s.pid)]);
    const during = await load.stop();
    expect(reload.code).toBe(ExitCode.RELOAD_FAILED);
    expect(reload.stderr).toMatch(/worker \d+ of generation 2 exited with code 1 \d+ ms after listening/);
    expect(reload.stderr).toMatch(/connect ECONNREFUSED 127\.0\.0\.1:5432 \(fixture database\)/);

    // Long after the settle period: no crash loop, the old workers alone, every request served.
    await sleep(2500);
    const after = await sample(port);
    expect(after.failed).toBe(0);
    expect([...after.pids].sort()).toEqual(old);
    expect(s.workerPids().sort()).toEqual(old);
    const status = await control(['status', '--pid', String(s.pid), '--json']);
    const snap = JSON.parse(status.stdout);
    expect(snap.state).toBe('READY');
    expect(snap.generation).toBe(1);
    expect(snap.workers.map((w: { generation: number; stage: string }) => `${w.generation}:${w.stage}`)).toEqual(['1:LISTENING', '1:LISTENING']);
    // What the attempt cost: only connections the crashing worker held in its 300 ms.
    console.log(`listen-then-crash reload (${_mode}): ${during.ok} ok, ${during.failed} failed during the attempt ${JSON.stringify(during.errors)}; after: ${after.failed} of 200 failed`);
  });
});

describe('--ecv-monitor gates a reload on the new generation itself', () => {
  test('new workers whose health check fails abort the reload, though the old ones answer the same check through the socket', async () => {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-gate-'));
    const flag = path.join(dir, 'UNHEALTHY');
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${await freePort()}`, '--ecv-monitor', '/health', '--settle', '500ms',
      path.join(FIXTURES, 'unhealthy-on-reload.js')], { env: { UNHEALTHY_FILE: flag } });
    await s.ready();
    const old = s.workerPids().sort();
    const good = await control(['reload', '--pid', String(s.pid)]);
    expect(good.code).toBe(ExitCode.OK);
    const gen2 = s.workerPids().sort();
    expect(gen2.filter((p) => old.includes(p))).toEqual([]);

    fs.writeFileSync(flag, '');
    const bad = await control(['reload', '--pid', String(s.pid)]);
    expect(bad.code).toBe(ExitCode.RELOAD_FAILED);
    expect(bad.stderr).toMatch(/--ecv-monitor GET \/health → 503 in \d+ ms \(in-process\)/);
    await sleep(1000);
    expect(s.workerPids().sort()).toEqual(gen2);
    const after = await sample(port, 40);
    expect(after.failed).toBe(0);
    expect([...after.pids].sort()).toEqual(gen2);
  });
});

describe('a worker that stops serving is not ready', () => {
  test('an app that closes its own server is replaced and no longer counted as listening', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, path.join(FIXTURES, 'closes-server.js')]);
    await s.ready();
    const before = s.workerPids();
    const closer = Number(/(\d+)\s*$/.exec((await request({ port }, '/close')).body)?.[1]);
    expect(before).toContain(closer);
    await s.waitFor((l) => /stopped serving \(its server closed\)/.test(l.msg), 5000);
    await eventually(() => !s.workerPids().includes(closer) && s.workerPids().length === 2, 10_000, 'the closed worker replaced');
    await s.waitFor((l) => l.msg === 'worker booted' && l.workerPid !== before[0] && l.workerPid !== before[1], 10_000);
    const after = await sample(port, 100);
    expect(after.failed).toBe(0);
    expect(after.pids.has(closer)).toBe(false);
  });

  test('an app that exits without ever listening is reported at once, not after --boot-timeout', async () => {
    const t0 = Date.now();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${await freePort()}`, path.join(FIXTURES, 'exits-early.js')]);
    const { code } = await s.exited;
    expect(code).toBe(ExitCode.BOOT_FAILED);
    expect(Date.now() - t0).toBeLessThan(15_000); // the boot timeout is 30 s
    expect(s.stdout).toMatch(/exited with code 0 before listening/);
  });
});

describe('symlinked releases (current -> releases/N)', () => {
  /** releases/1 and releases/2, each with its own code and config file; current -> releases/1. */
  function deployTree(): { dir: string; current: string; swap: (n: number) => void; release: (n: number, broken?: boolean) => void } {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-releases-')));
    const release = (n: number, broken = false) => {
      const r = path.join(dir, 'releases', String(n));
      fs.mkdirSync(r, { recursive: true });
      fs.writeFileSync(path.join(r, 'config.txt'), `config of release ${n}`);
      fs.writeFileSync(path.join(r, 'app.js'), broken
        ? `throw new Error('release ${n} is broken (fixture)');\n`
        : `const fs = require('fs');
require('http').createServer((q, r) => r.end(JSON.stringify({ code: ${n}, cwd: process.cwd(), config: fs.readFileSync('config.txt', 'utf8') }) + ' ' + process.pid)).listen(3000);\n`);
    };
    const current = path.join(dir, 'current');
    const swap = (n: number) => {
      // As Capistrano does: a new symlink renamed over the old one (atomic).
      fs.symlinkSync(path.join('releases', String(n)), `${current}.new`);
      fs.renameSync(`${current}.new`, current);
    };
    release(1);
    release(2);
    fs.symlinkSync(path.join('releases', '1'), current);
    return { dir, current, swap, release };
  }

  const answer = async (port: number) => JSON.parse((await request({ port }, '/')).body.replace(/ \d+$/, ''));

  test.each([
    ['a shell: cd current && sockrun app.js ($PWD)', (current: string) => ({ args: ['app.js'], env: { PWD: current } })],
    ['systemd: WorkingDirectory=current, sockrun --cwd current app.js (no $PWD)', (current: string) => ({ args: ['--cwd', current, 'app.js'], env: { PWD: undefined } })],
    ['an absolute path through the symlink (no $PWD)', (current: string) => ({ args: [path.join(current, 'app.js')], env: { PWD: undefined } })],
  ])('%s: after the swap, a reload runs the new release in the new release\'s directory', async (_shape, how) => {
    const { dir, current, swap } = deployTree();
    const port = await freePort();
    const { args, env } = how(current);
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--settle', '500ms', ...args], { cwd: current, env: env as NodeJS.ProcessEnv });
    await s.ready();
    expect(await answer(port)).toEqual({ code: 1, cwd: path.join(dir, 'releases', '1'), config: 'config of release 1' });

    swap(2);
    const reload = await control(['reload', '--pid', String(s.pid)]);
    expect(reload.code).toBe(ExitCode.OK);
    for (let i = 0; i < 6; i++) {
      expect(await answer(port)).toEqual({ code: 2, cwd: path.join(dir, 'releases', '2'), config: 'config of release 2' });
    }
    const status = await control(['status', '--pid', String(s.pid)]);
    expect(status.stdout).toContain(`generation 2: ${path.join(dir, 'releases', '2', 'app.js')} (in ${path.join(dir, 'releases', '2')})`);
  });

  test('after an aborted reload to a broken release, a crashed worker is respawned from the release that serves', async () => {
    const { dir, current, swap, release } = deployTree();
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--settle', '500ms', '--cwd', current, 'app.js'], { cwd: current });
    await s.ready();
    release(3, true);
    swap(3);
    expect((await control(['reload', '--pid', String(s.pid)])).code).toBe(ExitCode.RELOAD_FAILED);
    const [victim] = s.workerPids();
    killQuietly(victim);
    await eventually(() => s.workerPids().length === 2 && !s.workerPids().includes(victim), 10_000, 'a replacement');
    await sleep(1000);
    const after = await sample(port, 40);
    expect(after.failed).toBe(0);
    for (let i = 0; i < 6; i++) expect((await answer(port)).cwd).toBe(path.join(dir, 'releases', '1'));
  });
});

describe('the drain delay', () => {
  test('a worker that dies during --drain-delay is replaced, and the drain still ends with exit 0', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--drain-delay', '4s', '--settle', '500ms', path.join(FIXTURES, 'hello.js')]);
    await s.ready();
    const [victim, survivor] = s.workerPids();
    s.signal('SIGTERM');
    await s.waitFor('not ready; draining after the drain delay');
    killQuietly(victim);
    await eventually(() => s.workerPids().filter((p) => p !== survivor && p !== victim).length === 1, 3000, 'a replacement during the drain delay');
    expect((await s.exited).code).toBe(0);
  });
});
