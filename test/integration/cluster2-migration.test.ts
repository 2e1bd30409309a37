/**
 * Apps written for cluster2 0.3–0.5, migrated by changing their require line (issue 17): the
 * express example with its monitor app, and a server shaped like cluster2 0.4's own test
 * server (options from the environment, events sent to the test over IPC), stopped and shut
 * down by cluster2's stop and shutdown scripts.
 *
 * The apps hard-code cluster2's ports (3000, monitor 3001); SOCKRUN_LISTEN and SOCKRUN_ADMIN
 * move them to free loopback ports, as an operator would.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { eventually, freePort, request } from '../helpers/sockrun';
import { App, allGone, cleanupApps, runScript, serving, underCli } from '../fixtures/cluster2/harness';

afterEach(cleanupApps);
jest.setTimeout(40_000);

type Message = Record<string, unknown>;

/** Starts the cluster2-0.4-suite-shaped server with `env` as its options; resolves when a worker listens. */
async function startSuiteServer(env: NodeJS.ProcessEnv = {}): Promise<{ app: App; port: number; monPort: number; events: (name: string) => Message[] }> {
  const port = await freePort();
  const monPort = await freePort();
  const app = new App('suite-server.js', {
    ipc: true,
    env: {
      port: String(port), monPort: String(monPort), noWorkers: '2', heartbeatInterval: '100', maxHeartbeatDelay: '3000',
      SOCKRUN_LISTEN: `127.0.0.1:${port}`, SOCKRUN_ADMIN: `127.0.0.1:${monPort}`, ...env,
    },
  });
  await app.ready();
  const events = (name: string) => app.messages.filter((m) => m.event === name);
  return { app, port, monPort, events };
}

describe('cluster2 0.4\'s express example, with its monitor app', () => {
  test('starts with every option of the example; the monitor app answers on monPort beside the admin routes', async () => {
    const port = await freePort();
    const monPort = await freePort();
    const tokenDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-c2-token-'));
    fs.writeFileSync(path.join(tokenDir, 'token'), 's3cret\n', { mode: 0o600 });
    const app = new App('express-monitor.js', {
      env: { SOCKRUN_LISTEN: `127.0.0.1:${port}`, SOCKRUN_ADMIN: `127.0.0.1:${monPort}`, SOCKRUN_ADMIN_TOKEN_FILE: path.join(tokenDir, 'token') },
    });
    await app.ready();
    expect((await request({ port }, '/')).body).toBe('hello');

    // The monitor app, served on monPort as cluster2 served it (it was a 404 there).
    const mon = await request({ port: monPort }, '/monapp');
    expect(mon).toMatchObject({ status: 200, body: 'Hello from Monitor app' });
    expect(mon.headers['x-powered-by']).toBe('Express');
    expect((await request({ port: monPort }, '/nope')).body).toMatch(/Cannot GET \/nope/); // express's own 404
    // sockrun's admin routes keep their paths on the same port.
    await eventually(async () => (await request({ port: monPort }, '/readyz')).status === 200, 10_000, 'ready (the ecv.monitor GET / passes)');

    // ecv: GET /ecv on the app port, as cluster2's example served it.
    expect((await request({ port }, '/ecv')).body).toMatch(/^status=AVAILABLE&ServeTraffic=true&ip=127\.0\.0\.1&hostname=.*&port=\d+&time=/);
    // ecv.control moved to the admin port and needs the token: on the app port POST /ecv/disable is the app's.
    expect((await request({ port }, '/ecv/disable', { method: 'POST' })).status).toBe(404);
    expect((await request({ port: monPort }, '/ecv/disable', { method: 'POST' })).status).toBe(401);
    const auth = { authorization: 'Bearer s3cret' };
    expect((await request({ port: monPort }, '/ecv/disable', { method: 'POST', headers: auth })).status).toBe(204);
    await eventually(async () => (await request({ port }, '/ecv')).status === 400, 5000, 'ECV disabled on the app port');
    expect((await request({ port: monPort }, '/ecv/enable', { method: 'POST', headers: auth })).status).toBe(204);
    await eventually(async () => (await request({ port }, '/ecv')).status === 200, 5000, 'ECV enabled again');

    // ecv.validator: accepted, with one line saying what sockrun does instead.
    expect(app.json.filter((l) => l.level === 40 && /^cluster2 option/.test(String(l.msg))).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^cluster2 option ecv\.validator: not called/),
    ]);

    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
  });
});

describe('the monitor app where no master can serve it', () => {
  test('under the sockrun CLI (its master runs no app code): the app serves, one warning says the monitor app is not served', async () => {
    const port = await freePort();
    const app = underCli('express-monitor.js', ['-w', '2', '-l', `127.0.0.1:${port}`]);
    await app.ready();
    expect((await request({ port }, '/')).body).toBe('hello');
    expect(app.err.trim().split('\n')).toEqual([
      'sockrun: warning: the monitor app (cb(app, monApp)) is not served under the sockrun CLI: its master runs no app code; run the script as `node app.js` to serve it on monPort',
    ]);
    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
  });

  test('with zero workers (one process, no admin port): the app serves, warnings say what is not done', async () => {
    const port = await freePort();
    const app = new App('express-monitor.js', { env: { SOCKRUN_LISTEN: `127.0.0.1:${port}`, SOCKRUN_WORKERS: '0' } });
    await serving(port);
    expect(app.err.trim().split('\n')).toEqual([
      expect.stringMatching(/^sockrun: warning: cluster2 option ecv\.validator: not called/),
      'sockrun: warning: the monitor app (cb(app, monApp)) is not served in one process (cluster: false, or zero workers): there is no admin port; run with workers to serve it on monPort',
    ]);
    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
  });
});

describe('a server shaped like cluster2 0.4\'s own test server', () => {
  test('starts with heartbeatInterval and maxHeartbeatDelay; the master emits a heartbeat with each worker\'s stats; ECV on the app port', async () => {
    const { app, port } = await startSuiteServer();
    const workers = app.workerPids();
    expect(workers).toHaveLength(2);
    for (let i = 0; i < 3; i++) expect((await request({ port }, '/')).body).toBe('hello');

    const beats = () => app.messages.filter((m) => m.type === 'heartbeat');
    await app.until('a heartbeat from each worker that counted the connections', () => {
      const last = new Map(beats().map((b) => [b.pid as number, b]));
      return workers.every((pid) => last.has(pid)) && [...last.values()].reduce((n, b) => n + (b.totalConnections as number), 0) >= 3;
    });
    const beat = beats().find((b) => workers.includes(b.pid as number))!;
    expect(beat).toMatchObject({
      pid: expect.any(Number), id: expect.any(Number), generation: 1, uptime: expect.any(Number), memory: expect.any(Number),
      aliveConnections: expect.any(Number), pendingConnections: expect.any(Number), totalConnections: expect.any(Number),
      stats: expect.objectContaining({ connectionsTotal: expect.any(Number), requestsTotal: expect.any(Number), eventLoopLagMs: expect.any(Number) }),
    });
    expect(beat.memory).toBeGreaterThan(1024 * 1024);
    // heartbeatInterval 100 ms is the ping interval: several beats per worker in well under a second.
    const before = beats().length;
    await app.until('more heartbeats', () => beats().length >= before + 4);

    // cluster2's "start, check ecv and stop".
    expect((await request({ port }, '/ecv')).body)
      .toMatch(new RegExp(`^status=AVAILABLE&ServeTraffic=true&ip=127\\.0\\.0\\.1&hostname=${os.hostname()}&port=${port}&time=`));

    // cluster2's stop script: SIGKILL on the master's Cluster, everything gone, the pids directory empty.
    expect((await runScript('stop.js', app.cwd)).status).toBe(0);
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(app.messages.filter((m) => m.event === 'SIGKILL')).toHaveLength(1);
    expect(await allGone(workers)).toBe(true);
    expect(fs.readdirSync(path.join(app.cwd, 'pids'))).toEqual([]);
  });

  test('the shutdown script (new Cluster().shutdown() in another process): the master emits SIGTERM {type: "master"}, workers drain', async () => {
    const { app, events } = await startSuiteServer();
    const workers = app.workerPids();
    expect((await runScript('shutdown.js', app.cwd)).status).toBe(0);
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(events('SIGTERM').map((m) => m.arg)).toEqual([{ pid: app.pid, type: 'master' }]);
    expect(events('died').map((m) => m.arg).sort()).toEqual([...workers].sort());
    expect(events('died').map((m) => (m.more as { reason: string }).reason)).toEqual(['shutdown', 'shutdown']);
    expect(await allGone(workers)).toBe(true);
  });

  test('maxHeartbeatDelay: a worker whose event loop stops is killed after that delay and replaced', async () => {
    const { app, port, events } = await startSuiteServer({ heartbeatInterval: '500', maxHeartbeatDelay: '1500' });
    const runaway = Number((await request({ port }, '/hang')).body);
    expect(app.workerPids()).toContain(runaway);
    await app.until('the runaway worker reported dead', () => events('died').some((m) => m.arg === runaway), 20_000);
    const died = events('died').find((m) => m.arg === runaway)!;
    expect(died.more).toMatchObject({ reason: 'hang' });
    // Found by the 1.5 s delay, not sockrun's default of 30 s.
    const log = app.logs('worker event loop blocked; killing it').find((l) => l.workerPid === runaway)!;
    expect(log.silentMs).toBeLessThan(10_000);
    await app.until('a replacement listening', () => events('forked').length >= 3 && events('listening').length >= 3);
    await eventually(async () => (await request({ port }, '/')).body === 'hello', 5000, 'serving after the replacement');
    expect(app.workerPids()).toHaveLength(2);
  });

  test('uptimeThreshold (seconds): every worker is recycled by age, make-before-break', async () => {
    const { app, events } = await startSuiteServer({ uptimeThreshold: '4' });
    const first = app.workerPids();
    await app.until('both first workers recycled', () => first.every((pid) => events('died').some((m) => m.arg === pid)), 20_000);
    for (const pid of first) {
      expect(events('died').find((m) => m.arg === pid)!.more).toMatchObject({ reason: 'recycle' });
    }
    expect(app.logs('worker due for recycling').filter((l) => first.includes(l.workerPid as number)).map((l) => l.reason))
      .toEqual(['age', 'age']);
    expect(events('forked').length).toBeGreaterThanOrEqual(4);
  });
});
