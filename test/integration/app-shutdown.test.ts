/**
 * The app's own shutdown code runs on every drain, as without sockrun, and cannot cut requests in
 * flight (issue 12 §6); workers survive a SIGHUP sent to the whole unit (issue 12 §7).
 */
import * as path from 'node:path';
import { FIXTURES, Sockrun, cleanup, eventually, freePort, isAlive, request, sleep, startLoad } from '../helpers/sockrun';

afterEach(cleanup);

const app = path.join(FIXTURES, 'shutdown-code.js');

/** The lines the app printed ("app <pid>: …"), by pid. */
function appSaid(s: Sockrun, what: RegExp): number[] {
  return [...s.stdout.matchAll(/^app (\d+): (.*)$/gm)].filter((m) => what.test(m[2])).map((m) => Number(m[1]));
}

describe('the app\'s SIGTERM listeners', () => {
  test('run in every old worker on a reload, before sockrun closes the server, while requests in flight complete', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, app]);
    await s.ready();
    const old = s.workerPids();
    const slow = Array.from({ length: 6 }, () => request({ port }, '/slow?ms=1500'));
    await sleep(300);
    s.signal('SIGHUP');
    await s.waitFor('reload complete', 20_000);
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(appSaid(s, /^SIGTERM listener ran, listening=true$/).sort()).toEqual(old.sort());
  });

  test('run on a recycle', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, '--recycle-requests', '20', '--ping-interval', '100ms', app]);
    await s.ready();
    const first = s.workerPids()[0];
    const load = startLoad(port, { concurrency: 2 });
    await s.waitFor((l) => l.msg === 'worker exited' && l.reason === 'recycle', 20_000);
    const r = await load.stop();
    expect(r.failed).toBe(0);
    expect(appSaid(s, /^SIGTERM listener ran/)).toEqual([first]);
  });

  test('run on a shutdown; the master exits 0 once requests in flight completed', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, app]);
    await s.ready();
    const workers = s.workerPids();
    const slow = Array.from({ length: 4 }, () => request({ port }, '/slow?ms=1000'));
    await sleep(300);
    s.signal('SIGTERM');
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect((await s.exited).code).toBe(0);
    expect(appSaid(s, /^SIGTERM listener ran, listening=true$/).sort()).toEqual(workers.sort());
  });

  test('a listener that calls server.close() and process.exit(0) cannot cut requests in flight: a reload under keep-alive load fails none', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, app], { env: { SHUTDOWN: 'close-exit' } });
    await s.ready();
    const old = s.workerPids();
    const load = startLoad(port, { concurrency: 8, keepAlive: true });
    const slow = Array.from({ length: 4 }, () => request({ port }, '/slow?ms=1200'));
    await sleep(300);
    s.signal('SIGHUP');
    await s.waitFor('reload complete', 20_000);
    await sleep(500);
    const r = await load.stop();
    expect((await Promise.all(slow)).map((x) => x.status)).toEqual([200, 200, 200, 200]);
    expect(r.errors).toEqual({});
    expect(r.ok).toBeGreaterThan(200);
    expect(appSaid(s, /server\.close\(\); process\.exit\(0\)/).sort()).toEqual(old.sort());
  });

  test('NestJS-style shutdown hooks (async, then re-raising SIGTERM) finish before the worker exits, and requests in flight complete', async () => {
    const port = await freePort();
    // The hooks outlast the request in flight: the worker must wait for them, as Node would.
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, app], { env: { SHUTDOWN: 'nest', NEST_HOOKS_MS: '1500' } });
    await s.ready();
    const [worker] = s.workerPids();
    const slow = request({ port }, '/slow?ms=600');
    await sleep(200);
    s.signal('SIGTERM');
    expect((await slow).status).toBe(200);
    expect((await s.exited).code).toBe(0);
    expect(appSaid(s, /^shutdown hooks done$/)).toEqual([worker]);
    expect(s.lines.find((l) => l.msg === 'worker exited')).toMatchObject({ reason: 'shutdown', code: 0 });
  });
});

describe('SIGHUP', () => {
  test('workers survive a SIGHUP (systemctl kill -s HUP reaches every process of the unit) and keep serving; an app\'s own SIGHUP listener still runs', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, path.join(FIXTURES, 'hello.js')]);
    await s.ready();
    const workers = s.workerPids();
    for (const pid of workers) process.kill(pid, 'SIGHUP');
    await sleep(500);
    expect(workers.every(isAlive)).toBe(true);
    expect(s.workerPids().sort()).toEqual(workers.sort());
    expect(s.lines.filter((l) => l.msg === 'worker died')).toEqual([]);
    expect((await request({ port }, '/')).status).toBe(200);

    const appPort = await freePort();
    const withListener = new Sockrun(['-w', '1', '-l', `127.0.0.1:${appPort}`, app], { env: { APP_SIGHUP: '1' } });
    await withListener.ready();
    const [worker] = withListener.workerPids();
    process.kill(worker, 'SIGHUP');
    await eventually(() => appSaid(withListener, /^SIGHUP listener ran$/).length === 1, 5000, 'the app\'s SIGHUP listener');
    expect(isAlive(worker)).toBe(true);
  });
});
