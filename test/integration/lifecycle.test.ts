/**
 * Lifecycle under real load: rolling reload, graceful drain, recycling, hang detection and the
 * control commands, counted from the clients' side.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { FIXTURES, Sockrun, cleanup, control, eventually, freePort, request, sleep, startLoad } from '../helpers/sockrun';

const hello = path.join(FIXTURES, 'hello.js');
afterEach(cleanup);

describe('reload', () => {
  test.each([
    ['keep-alive', true],
    ['a new connection per request', false],
  ])('SIGHUP under steady load (%s) replaces every worker and fails no request', async (_shape, keepAlive) => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, hello]);
    await s.ready();
    const before = s.workerPids();
    const load = startLoad(port, { concurrency: 8, keepAlive });
    await sleep(1000);
    s.signal('SIGHUP');
    await s.waitFor('reload complete', 20_000);
    await sleep(1000);
    const r = await load.stop();
    const after = s.workerPids();
    expect(after).toHaveLength(2);
    expect(after.filter((p) => before.includes(p))).toEqual([]);
    expect(r.errors).toEqual({});
    expect(r.failed).toBe(0);
    expect(r.ok).toBeGreaterThan(500);
    // Both generations answered during the run.
    const answered = [...r.pids.keys()].map(Number);
    expect(answered.some((p) => before.includes(p))).toBe(true);
    expect(answered.some((p) => after.includes(p))).toBe(true);
  });

  test('`sockrun reload` waits for the rollout; a broken build aborts it, old workers keep serving, exit RELOAD_FAILED', async () => {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-'));
    const breakFile = path.join(dir, 'BROKEN');
    const pidFile = path.join(dir, 'master.pid');
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--pid-file', pidFile, path.join(FIXTURES, 'toggle.js')], { env: { BREAK_FILE: breakFile } });
    await s.ready();
    const good = await control(['reload', '--pid-file', pidFile]);
    expect(good.code).toBe(ExitCode.OK);
    expect(good.stdout).toMatch(/reloaded: generation 2 serving/);
    const gen2 = s.workerPids();

    fs.writeFileSync(breakFile, '');
    const load = startLoad(port, { concurrency: 4 });
    const bad = await control(['reload', '--pid', String(s.pid)]);
    const r = await load.stop();
    expect(bad.code).toBe(ExitCode.RELOAD_FAILED);
    expect(bad.stderr).toMatch(/of generation \d+ exited with code 1 before listening: broken build: syntax error in routes/);
    // The aborted generation's other workers were told to drain when the reload returned: they are gone moments later.
    await eventually(() => JSON.stringify(s.workerPids().sort()) === JSON.stringify([...gen2].sort()), 10_000, 'only the old workers');
    expect(r.failed).toBe(0);

    fs.rmSync(breakFile);
    const again = await control(['reload', '--pid', String(s.pid)]);
    expect(again.code).toBe(ExitCode.OK);
    expect(s.workerPids().filter((p) => gen2.includes(p))).toEqual([]);
  });
});

describe('drain', () => {
  test('SIGTERM with in-flight slow requests: all complete with 200, exit 0 soon after the slowest, then refused', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--graceful-timeout', '20s', hello]);
    await s.ready();
    const slow = Array.from({ length: 6 }, (_, i) => request({ port }, `/slow?ms=${1000 + i * 200}`));
    await sleep(300);
    const t0 = Date.now();
    s.signal('SIGTERM');
    const replies = await Promise.all(slow);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const { code } = await s.exited;
    const tookMs = Date.now() - t0;
    expect(code).toBe(0);
    expect(tookMs).toBeLessThan(10_000); // far below the 20 s graceful timeout
    await expect(request({ port }, '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  test('during a drain, new connections are refused at once (own bind), not left hanging in the backlog until exit', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, hello]);
    await s.ready();
    const slow = request({ port }, '/slow?ms=2500');
    await sleep(300);
    s.signal('SIGTERM');
    await s.waitFor('draining workers');
    const outcomes: string[] = [];
    for (let i = 0; i < 20 && !outcomes.includes('ECONNREFUSED'); i++) {
      outcomes.push(await request({ port }, '/', { timeout: 1500 }).then((r) => String(r.status), (e) => String(e.code ?? e.message)));
    }
    // Served by a worker that had not yet read its drain message, reset in the instant the last
    // listener closed, or refused. Never a timeout: before the master let go of its sockets at
    // drain start, new connections waited in the backlog until exit (~2 s here), then were reset.
    expect(outcomes.filter((o) => !['200', 'ECONNREFUSED', 'ECONNRESET'].includes(o))).toEqual([]);
    expect(outcomes).toContain('ECONNREFUSED');
    expect((await slow).status).toBe(200); // refused while this one was still in flight
    expect((await s.exited).code).toBe(0);
  });

  test('keep-alive responses in flight during a drain carry Connection: close', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, hello]);
    await s.ready();
    const pending = request({ port }, '/slow?ms=800', { headers: { connection: 'keep-alive' } });
    await sleep(200);
    s.signal('SIGTERM');
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('close');
    expect((await s.exited).code).toBe(0);
  });

  test('a raw TCP server drains: open echo connections finish, then the worker exits', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, path.join(FIXTURES, 'echo.js')]);
    await s.ready();
    const c = net.connect(port, '127.0.0.1');
    // 'connect' only means the kernel queued it; an echo proves the worker accepted it.
    c.write('hello\n');
    await new Promise((r) => c.once('data', r));
    s.signal('SIGTERM');
    await sleep(300);
    c.write('still here\n');
    const echoed = await new Promise<string>((r) => c.once('data', (d) => r(String(d))));
    expect(echoed).toBe('still here\n');
    c.end();
    expect((await s.exited).code).toBe(0);
  });

  test('a worker that never finishes draining is killed at the graceful timeout: exit DRAIN_FORCED', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, '--graceful-timeout', '1500ms', path.join(FIXTURES, 'stubborn.js')]);
    await s.ready();
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    await new Promise((r) => c.once('data', r));
    const t0 = Date.now();
    s.signal('SIGTERM');
    const { code } = await s.exited;
    expect(code).toBe(ExitCode.DRAIN_FORCED);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(s.stdout).toContain('still busy at the graceful timeout');
    c.destroy();
  });

  test('--drain-delay keeps serving after SIGTERM, then drains; a second SIGTERM stops at once', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, '--drain-delay', '30s', hello]);
    await s.ready();
    s.signal('SIGTERM');
    await s.waitFor('state DRAINING');
    await sleep(500);
    expect((await request({ port }, '/')).status).toBe(200); // still served during the delay
    s.signal('SIGHUP');
    await s.waitFor('reload ignored while DRAINING');
    s.signal('SIGTERM');
    const { code } = await s.exited;
    expect(code).toBe(0);
    expect(s.stdout).toContain('"event":"stop"');
  });
});

describe('recycling and hangs', () => {
  test('--recycle-connections replaces a worker, make-before-break, with no failed request', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--recycle-connections', '200', '--ping-interval', '200ms', hello]);
    await s.ready();
    const load = startLoad(port, { concurrency: 4 });
    await s.waitFor((l) => l.msg === 'worker exited' && l.reason === 'recycle', 30_000);
    const r = await load.stop();
    expect(r.failed).toBe(0);
    expect(s.lines.find((l) => l.msg === 'worker due for recycling')!.reason).toBe('connections');
  });

  test('--recycle-age replaces workers one at a time', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--recycle-age', '2s', '--recycle-jitter', '500ms', hello]);
    await s.ready();
    const first = s.workerPids();
    await eventually(() => s.lines.filter((l) => l.msg === 'worker exited' && l.reason === 'recycle').length >= 2, 20_000, 'two recycles');
    expect(s.workerPids().filter((p) => first.includes(p))).toEqual([]);
    expect((await request({ port }, '/')).status).toBe(200);
  });

  test('a worker whose event loop is blocked is killed (reason hang) and replaced', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--hang-timeout', '2s', '--ping-interval', '200ms', hello]);
    await s.ready();
    request({ port }, '/block?ms=60000').catch(() => undefined);
    const hang = await s.waitFor('worker event loop blocked; killing it', 15_000);
    expect(hang.reason).toBe('hang');
    const exit = await s.waitFor((l) => l.msg === 'worker died' && l.workerPid === hang.workerPid, 10_000);
    expect(exit.reason).toBe('hang');
    await eventually(() => s.lines.filter((l) => l.msg === 'worker listening').length >= 3, 10_000, 'replacement');
    expect((await request({ port }, '/')).status).toBe(200);
  });
});

describe('control commands', () => {
  test('`sockrun status` prints a table, --json for scripts', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--ping-interval', '100ms', hello]);
    await s.ready();
    for (let i = 0; i < 10; i++) await request({ port }, '/');
    await sleep(400);
    const table = await control(['status', '--pid', String(s.pid)]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^PID\s+ROLE\s+GEN\s+STATE\s+UPTIME\s+CONNS\s+CONNS TOTAL\s+REQUESTS\s+RSS/);
    expect(table.stdout).toMatch(new RegExp(`${s.pid}\\s+master\\s+1\\s+READY`));
    const json = JSON.parse((await control(['status', '--pid', String(s.pid), '--json'])).stdout);
    expect(json.state).toBe('READY');
    expect(json.workers).toHaveLength(2);
    expect(json.requestsTotal).toBe(10);
  });

  test('`sockrun shutdown` drains and returns when the master is gone', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, hello]);
    await s.ready();
    const r = await control(['shutdown', '--pid', String(s.pid)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`master ${s.pid} stopped`);
    expect((await s.exited).code).toBe(0);
  });

  test('a stale pid file, or a pid that is not sockrun, is refused without signalling anyone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-'));
    fs.writeFileSync(path.join(dir, 'stale.pid'), '999999\n');
    const stale = await control(['reload', '--pid-file', path.join(dir, 'stale.pid')]);
    expect(stale.code).toBe(ExitCode.NO_MASTER);
    expect(stale.stderr).toMatch(/no process 999999 \(stale pid file/);
    const notOurs = await control(['stop', '--pid', String(process.pid)]);
    expect(notOurs.code).toBe(ExitCode.NO_MASTER);
    expect(notOurs.stderr).toMatch(/is not a sockrun master/);
    const missing = await control(['status', '--pid-file', path.join(dir, 'none.pid')]);
    expect(missing.code).toBe(ExitCode.NO_MASTER);
  });

  test('the control socket a SIGKILLed master left behind, for a pid that is not sockrun any more: NO_MASTER, nobody signalled', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-'));
    const leftover = path.join(dir, 'ctl.sock');
    // A socket file nobody listens on: a second name for a server's socket, kept after it closed.
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(path.join(dir, 'live.sock'), r));
    fs.linkSync(path.join(dir, 'live.sock'), leftover);
    await new Promise((r) => server.close(r));
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const r = await control(['stop', '--pid', String(bystander.pid), '--control-socket', leftover]);
      expect(r.code).toBe(ExitCode.NO_MASTER);
      expect(r.stderr).toMatch(/nothing listens on .*ctl\.sock: that process is not a sockrun master/);
      expect(bystander.exitCode).toBeNull();
      expect(bystander.signalCode).toBeNull();
    } finally {
      bystander.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
