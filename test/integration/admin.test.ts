/**
 * The admin port in every state the issue names — starting, ready, a worker down, reload in
 * progress, draining, ECV disabled, validator failing, monitor failing — with real processes,
 * and cluster2's ECV on both ports.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { ADMIN_APP, VALIDATOR, bearer, call, get, startAdmin } from '../helpers/admin-helpers';
import { FIXTURES, Reply, Sockrun, cleanup, eventually, freePort, killQuietly, sleep } from '../helpers/sockrun';

afterEach(cleanup);

/** Polls `path` until its status and body match. */
async function until(target: { port?: number; socketPath?: string }, p: string, status: number, body?: RegExp, timeoutMs = 15_000): Promise<Reply> {
  let last: Reply = { status: 0, body: '', headers: {} };
  try {
    return await eventually<Reply | undefined>(async () => {
      last = await get(target, p);
      return last.status === status && (!body || body.test(last.body)) ? last : undefined;
    }, timeoutMs, `${p} → ${status} ${body ?? ''}`) as Reply;
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answer ${last.status} ${JSON.stringify(last.body)}`);
  }
}

describe('probes by state', () => {
  test('starting: /readyz is 503 "STARTING, 0/2" while no worker listens and /livez is 200; both pass once the workers listen', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-admin-'));
    const hold = path.join(dir, 'hold');
    fs.writeFileSync(hold, '');
    const { admin } = await startAdmin([], { env: { HOLD_FILE: hold } });
    const ready = await get(admin, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toBe('not ready: STARTING, 0/2 workers ready; workers: 0/2 workers ready\n');
    expect((await get(admin, '/livez')).status).toBe(200);
    expect((await get(admin, '/healthz')).status).toBe(503);
    expect((await get(admin, '/ecv')).status).toBe(400);
    fs.rmSync(hold);
    expect((await until(admin, '/readyz', 200)).body).toBe('ok: READY, 2/2 workers ready\n');
    expect((await get(admin, '/healthz')).status).toBe(200);
  });

  test('ready: /livez, /readyz and /healthz are 200 with state and counts; ?verbose lists each check; per-check paths and ?exclude work', async () => {
    const { s, admin } = await startAdmin([]);
    await s.ready();
    await until(admin, '/readyz', 200);
    for (const p of ['/livez', '/readyz', '/healthz']) {
      const r = await get(admin, p);
      expect([r.status, r.body]).toEqual([200, 'ok: READY, 2/2 workers ready\n']);
      expect(r.headers['cache-control']).toBe('no-store');
    }
    const verbose = await get(admin, '/readyz?verbose');
    expect(verbose.body.split('\n')).toEqual([
      '[+]workers ok: 2/2 workers ready', '[+]shutdown ok: READY', '[+]ecv ok: enabled', 'readyz check passed', '',
    ]);
    const live = await get(admin, '/livez?verbose=true');
    expect(live.body).toMatch(/^\[\+\]loop ok: .*\n\[\+\]supervisor ok: READY: supervising 2 workers\nlivez check passed\n$/);
    const health = await get(admin, '/healthz?verbose');
    expect(health.body.match(/^\[\+\]/gm)).toHaveLength(5);
    expect((await get(admin, '/readyz/workers')).body).toBe('ok\n');
    expect((await get(admin, '/livez/loop')).status).toBe(200);
    expect((await get(admin, '/readyz/nosuchcheck')).status).toBe(404);
    // HEAD answers like GET, without a body.
    const head = await call(admin, 'HEAD', '/readyz');
    expect([head.status, head.body]).toEqual([200, '']);

    await call(admin, 'POST', '/ecv/disable', { headers: bearer() });
    expect((await get(admin, '/readyz')).status).toBe(503);
    expect((await get(admin, '/readyz?exclude=ecv')).status).toBe(200);
    expect((await get(admin, '/readyz?verbose&exclude=ecv')).body).toContain('[+]ecv excluded: ok');
    expect((await get(admin, '/readyz/ecv')).body).toMatch(/^ecv failed: disabled by POST \/ecv\/disable at /);
  });

  test('a worker down: /readyz is 503 "1/2 workers ready" until its replacement listens; /livez stays 200', async () => {
    const { s, admin, files } = await startAdmin([]);
    await s.ready();
    await until(admin, '/readyz', 200);
    fs.writeFileSync(files.hold, ''); // the replacement will not listen until this file goes
    const [victim] = s.workerPids();
    killQuietly(victim);
    const down = await until(admin, '/readyz', 503);
    expect(down.body).toBe('not ready: READY, 1/2 workers ready; workers: 1/2 workers ready\n');
    expect((await get(admin, '/livez')).status).toBe(200);
    expect((await get(admin, '/ecv')).status).toBe(400);
    fs.rmSync(files.hold);
    expect((await until(admin, '/readyz', 200)).body).toBe('ok: READY, 2/2 workers ready\n');
  });

  test('a worker down with --min-ready 1: /readyz stays 200 and says "1/2 workers ready"', async () => {
    const { s, admin, files } = await startAdmin(['--min-ready', '1']);
    await s.ready();
    await until(admin, '/readyz', 200);
    fs.writeFileSync(files.hold, '');
    killQuietly(s.workerPids()[0]);
    const r = await until(admin, '/readyz', 200, /1\/2 workers ready/);
    expect(r.body).toBe('ok: READY, 1/2 workers ready\n');
    expect((await get(admin, '/readyz?verbose')).body).toContain('[+]workers ok: 1/2 workers ready (min 1)');
  });

  test('reload in progress: /readyz stays 200 and says RELOADING while the old generation serves, then READY', async () => {
    const { s, admin } = await startAdmin([], { env: { BOOT_DELAY: '1500' } });
    await s.ready();
    await until(admin, '/readyz', 200);
    s.signal('SIGHUP');
    const seen: { status: number; body: string }[] = [];
    let done = false;
    void s.waitFor('reload complete', 30_000).then(() => (done = true), () => (done = true));
    while (!done) {
      seen.push(await get(admin, '/readyz'));
      await sleep(100);
    }
    expect(seen.filter((r) => r.status !== 200)).toEqual([]);
    expect(seen.some((r) => /^ok: RELOADING, [23]\/2 workers ready\n$/.test(r.body))).toBe(true);
    expect((await get(admin, '/readyz')).body).toBe('ok: READY, 2/2 workers ready\n');
  });

  test('draining: /readyz turns 503 "DRAINING" on SIGTERM before any listener closes (the app serves through --drain-delay); /livez stays 200', async () => {
    const { s, admin, appPort } = await startAdmin(['--drain-delay', '3s']);
    await s.ready();
    await until(admin, '/readyz', 200);
    s.signal('SIGTERM');
    const r = await until(admin, '/readyz', 503);
    const notReadyAt = Date.now();
    expect(r.body).toBe('not ready: DRAINING, 2/2 workers ready; shutdown: DRAINING: shutting down\n');
    // The app still accepts: no worker was told to drain yet.
    expect((await get({ port: appPort }, '/')).status).toBe(200);
    expect((await get(admin, '/livez')).status).toBe(200);
    expect((await get(admin, '/ecv')).body).toMatch(/^status=DISABLED&ServeTraffic=false&/);
    const drainLine = await s.waitFor('draining workers', 10_000);
    expect(Date.parse(drainLine.time as string)).toBeGreaterThan(notReadyAt);
    expect((await s.exited).code).toBe(0);
  });
});

describe('cluster2 ECV', () => {
  test('GET /ecv answers AVAILABLE with cluster2 headers; POST /ecv/disable (token) → 204, then 400 DISABLED and /readyz 503; /ecv/enable restores', async () => {
    const { s, admin, appPort } = await startAdmin([]);
    await s.ready();
    const ok = await until(admin, '/ecv', 200);
    expect(ok.body).toMatch(new RegExp(`^status=AVAILABLE&ServeTraffic=true&ip=127\\.0\\.0\\.1&hostname=${os.hostname()}&port=${appPort}&time=\\w{3} \\w{3} \\d\\d \\d{4} \\d\\d:\\d\\d:\\d\\d GMT`));
    expect(ok.headers['x-powered-by']).toBe('Cluster2');
    expect(ok.headers['cache-control']).toBe('no-cache');
    expect(ok.headers['content-type']).toBe('text/plain');
    expect(new Date(ok.headers.since as string).getTime()).toBeLessThanOrEqual(Date.now());

    const off = await call(admin, 'POST', '/ecv/disable', { headers: bearer() });
    expect([off.status, off.body, off.headers['x-powered-by']]).toEqual([204, '', 'Cluster2']);
    const disabled = await get(admin, '/ecv');
    expect(disabled.status).toBe(400);
    expect(disabled.body).toMatch(new RegExp(`^status=DISABLED&ServeTraffic=false&ip=127\\.0\\.0\\.1&hostname=.+&port=${appPort}&time=`));
    const ready = await get(admin, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatch(/^not ready: READY, 2\/2 workers ready; ecv: disabled by POST \/ecv\/disable at \d{4}-/);
    // Disabling twice is harmless; enabling restores both answers.
    expect((await call(admin, 'POST', '/ecv/disable', { headers: bearer() })).status).toBe(204);
    expect((await call(admin, 'POST', '/ecv/enable', { headers: bearer() })).status).toBe(204);
    expect((await get(admin, '/ecv')).status).toBe(200);
    expect((await get(admin, '/readyz')).status).toBe(200);
    await s.waitFor((l) => l.msg === 'ECV disabled' && l.by === 'bearer token from 127.0.0.1');
  });

  test('--ecv-on-app-port: workers answer GET /ecv on the app port with the master\'s verdict, new workers included; other requests reach the app', async () => {
    const { s, admin, appPort } = await startAdmin(['--ecv-on-app-port', '--drain-delay', '3s']);
    await s.ready();
    const app = { port: appPort };
    const ok = await until(app, '/ecv', 200);
    expect(ok.body).toMatch(new RegExp(`^status=AVAILABLE&ServeTraffic=true&ip=127\\.0\\.0\\.1&hostname=.+&port=${appPort}&time=`));
    expect(ok.headers['x-powered-by']).toBe('Cluster2');
    expect((await get(app, '/ecv?probe=lb')).status).toBe(200);
    expect((await get(app, '/')).body).toMatch(/^hello from \d+/);
    expect((await get(app, '/ecvx')).body).toMatch(/^hello from \d+/);
    // Control is never offered on the app port: the app gets the request.
    expect((await call(app, 'POST', '/ecv/disable')).body).toMatch(/^app saw POST \/ecv\/disable \d+/);
    expect((await get(app, '/ecv')).status).toBe(200);

    await call(admin, 'POST', '/ecv/disable', { headers: bearer() });
    await until(app, '/ecv', 400, /^status=DISABLED&ServeTraffic=false&/);
    // A replacement worker learns the verdict at spawn: no answer from any worker says AVAILABLE.
    const [victim] = s.workerPids();
    killQuietly(victim);
    await eventually(() => s.workerPids().length === 2 && !s.workerPids().includes(victim), 10_000, 'replacement');
    await until(admin, '/readyz', 503, /2\/2 workers ready/);
    for (let i = 0; i < 30; i++) expect((await get(app, '/ecv')).status).toBe(400);
    await call(admin, 'POST', '/ecv/enable', { headers: bearer() });
    await until(app, '/ecv', 200);
    for (let i = 0; i < 30; i++) expect((await get(app, '/ecv')).status).toBe(200);

    s.signal('SIGTERM');
    await until(app, '/ecv', 400);
    expect((await get(app, '/')).status).toBe(200); // still serving during the drain delay
  });

  test('--ecv-on-app-port works without --admin: the workers answer /ecv with the same verdict', async () => {
    const appPort = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${appPort}`, '--ecv-on-app-port', '--drain-delay', '3s', ADMIN_APP]);
    await s.ready();
    await until({ port: appPort }, '/ecv', 200, /^status=AVAILABLE&/);
    s.signal('SIGTERM');
    await until({ port: appPort }, '/ecv', 400, /^status=DISABLED&/);
  });

  test('--ecv-control=false offers no control endpoint (404); without --admin-token-file control over TCP is 403', async () => {
    const a = await startAdmin(['--ecv-control=false']);
    await a.s.ready();
    expect((await call(a.admin, 'POST', '/ecv/disable', { headers: bearer() })).status).toBe(404);
    expect((await get(a.admin, '/ecv')).status).toBe(200);
    const b = await startAdmin([], { token: false });
    await b.s.ready();
    const r = await call(b.admin, 'POST', '/ecv/disable');
    expect([r.status, r.body]).toEqual([403, 'state-changing requests need --admin-token-file, or a unix admin socket\n']);
    expect((await call(b.admin, 'POST', '/ecv/disable', { headers: bearer() })).status).toBe(403);
    await until(b.admin, '/ecv', 200);
  });

  test('a unix admin socket is mode 0600, serves probes, and accepts control without a token (a wrong token is still refused)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-admin-'));
    const sock = path.join(dir, 'admin.sock');
    const { s, admin } = await startAdmin([], { admin: `unix:${sock}`, token: false });
    await s.ready();
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    await until(admin, '/readyz', 200);
    expect((await get(admin, '/ecv')).body).toMatch(/^status=AVAILABLE&/);
    expect((await call(admin, 'POST', '/ecv/disable', { headers: bearer('wrong') })).status).toBe(403);
    expect((await get(admin, '/ecv')).status).toBe(200);
    expect((await call(admin, 'POST', '/ecv/disable')).status).toBe(204);
    expect((await get(admin, '/ecv')).status).toBe(400);
    s.signal('SIGTERM');
    await s.exited;
    expect(fs.existsSync(sock)).toBe(false);
  });
});

describe('validation', () => {
  test('validator failing: readiness fails with its message, recovers when it passes; "return false" fails too; /livez stays 200', async () => {
    const { s, admin, files } = await startAdmin(['--validator', VALIDATOR, '--ecv-monitor-interval', '300ms']);
    await s.ready();
    await until(admin, '/readyz', 200);
    expect((await get(admin, '/readyz?verbose')).body).toMatch(/\[\+\]validator ok: passed in \d+ ms/);
    fs.writeFileSync(files.validator, 'fail');
    const r = await until(admin, '/readyz', 503);
    expect(r.body).toBe('not ready: READY, 2/2 workers ready; validator: database unreachable\n');
    expect((await get(admin, '/ecv')).status).toBe(400);
    expect((await get(admin, '/livez')).status).toBe(200);
    fs.writeFileSync(files.validator, 'false');
    await until(admin, '/readyz', 503, /validator: returned false/);
    fs.writeFileSync(files.validator, 'ok');
    await until(admin, '/readyz', 200);
    await s.waitFor((l) => l.msg === 'validator fails' && l.message === 'database unreachable');
  });

  test('a validator that hangs or blocks its thread times out; probes stay fast and the next run starts a fresh thread', async () => {
    const { s, admin, files } = await startAdmin(['--validator', VALIDATOR, '--ecv-monitor-interval', '300ms', '--ecv-monitor-timeout', '700ms']);
    await s.ready();
    await until(admin, '/readyz', 200);
    fs.writeFileSync(files.validator, 'hang');
    await until(admin, '/readyz', 503, /validator: no answer within 700 ms/);
    fs.writeFileSync(files.validator, 'block');
    await sleep(1000); // a run is now spinning its thread
    const started = Date.now();
    const live = await get(admin, '/livez');
    expect(live.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    await until(admin, '/readyz', 503, /validator: no answer within 700 ms/);
    fs.writeFileSync(files.validator, 'ok');
    await until(admin, '/readyz', 200);
    await s.waitFor('validator did not answer in time; restarting its thread');
  });

  test('the validator gets the app\'s URL; an ES module validator (export default) works', async () => {
    const a = await startAdmin(['--validator', VALIDATOR, '--ecv-monitor-interval', '300ms']);
    fs.writeFileSync(a.files.validator, 'url');
    await a.s.ready();
    await until(a.admin, '/readyz', 503, new RegExp(`validator: url=http://127\\.0\\.0\\.1:${a.appPort}\\n`));
    const b = await startAdmin(['--validator', path.join(FIXTURES, 'admin', 'validator.mjs')]);
    await b.s.ready();
    await until(b.admin, '/readyz', 503, /validator: esm validator says no\n$/);
  });

  test('monitor path failing: the master GETs it through the app socket; 500 or a timeout fails readiness, 2xx restores it', async () => {
    const { s, admin, files } = await startAdmin(['--ecv-monitor', '/health', '--ecv-monitor-interval', '300ms', '--ecv-monitor-timeout', '800ms']);
    await s.ready();
    await until(admin, '/readyz', 200);
    expect((await get(admin, '/readyz?verbose')).body).toMatch(/\[\+\]monitor ok: GET \/health → 200 in \d+ ms/);
    fs.writeFileSync(files.health, 'fail');
    await until(admin, '/readyz', 503);
    expect((await get(admin, '/readyz')).body).toMatch(/^not ready: READY, 2\/2 workers ready; monitor: GET \/health → 500 in \d+ ms\n$/);
    expect((await get(admin, '/ecv')).status).toBe(400);
    fs.writeFileSync(files.health, 'slow');
    await until(admin, '/readyz', 503, /monitor: GET \/health: no answer within 800 ms/);
    fs.writeFileSync(files.health, 'ok');
    await until(admin, '/readyz', 200);
    expect((await get(admin, '/ecv')).status).toBe(200);
  });
});

describe('metrics and configuration', () => {
  test('GET /metrics answers with the metrics module\'s Prometheus content type; HEAD too; POST is 405', async () => {
    const { s, admin } = await startAdmin([]);
    await s.ready();
    const m = await get(admin, '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toMatch(/^(text\/plain; version=0\.0\.4|application\/openmetrics-text)/);
    expect((await call(admin, 'HEAD', '/metrics')).status).toBe(200);
    expect((await call(admin, 'POST', '/metrics')).status).toBe(405);
  });

  test.each([
    ['--min-ready above the worker count', ['--min-ready', '3'], /--min-ready 3: must be between 1 and the number of workers \(2\)/],
    ['--min-ready 0', ['--min-ready', '0'], /--min-ready 0: must be between 1/],
    ['a missing validator', ['--validator', '/nonexistent/check.js'], /--validator \/nonexistent\/check\.js: no such file/],
    ['a validator exporting no function', ['--validator', path.join(FIXTURES, 'admin', 'not-a-validator.js')], /cannot load it: it exports no function/],
    ['a monitor path without a slash', ['--ecv-monitor', 'health'], /--ecv-monitor health: expected a path such as \/health/],
  ])('bad configuration fails at start with a usage error: %s', async (_what, args, message) => {
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${await freePort()}`, '--admin', `127.0.0.1:${await freePort()}`, ...args, ADMIN_APP]);
    const { code } = await s.exited;
    expect(code).toBe(ExitCode.USAGE);
    expect(s.stderr).toMatch(message);
  });

  test('an empty or missing token file is a usage error; a busy admin port exits PORT_BUSY', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-admin-'));
    fs.writeFileSync(path.join(dir, 'empty'), '\n');
    for (const [file, message] of [[path.join(dir, 'empty'), /the file is empty/], [path.join(dir, 'missing'), /ENOENT/]] as const) {
      const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${await freePort()}`, '--admin', `127.0.0.1:${await freePort()}`, '--admin-token-file', file, ADMIN_APP]);
      expect((await s.exited).code).toBe(ExitCode.USAGE);
      expect(s.stderr).toMatch(message);
    }
    const { admin } = await startAdmin([]);
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${await freePort()}`, '--admin', `127.0.0.1:${admin.port}`, ADMIN_APP]);
    expect((await s.exited).code).toBe(ExitCode.PORT_BUSY);
    expect(s.stderr).toMatch(new RegExp(`--admin 127\\.0\\.0\\.1:${admin.port}: address already in use`));
  });

  test('an admin option that contradicts the others (--min-ready above --workers) is refused before the app runs at all', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-admin-'));
    const mark = path.join(dir, 'ran');
    const app = path.join(dir, 'app.js');
    fs.writeFileSync(app, `require('fs').writeFileSync(${JSON.stringify(mark)}, 'ran');\nrequire('http').createServer((q, r) => r.end('ok')).listen(3000);\n`);
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${await freePort()}`, '--admin', `127.0.0.1:${await freePort()}`, '--min-ready', '3', app]);
    expect((await s.exited).code).toBe(ExitCode.USAGE);
    expect(s.stderr).toMatch(/--min-ready 3: must be between 1 and the number of workers \(2\)/);
    // A worker spawned and then drained would have run the app's first line: the drain order is
    // read only after the app's module has loaded.
    expect(fs.existsSync(mark)).toBe(false);
  });

  test('a busy admin port found after the first workers were spawned (they boot while the master loads): they are gone before the master exits, the app port with them', async () => {
    const { admin } = await startAdmin([]);
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin.port}`, path.join(FIXTURES, 'hello.js')]);
    expect((await s.exited).code).toBe(ExitCode.PORT_BUSY);
    expect(s.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^sockrun: --admin 127\.0\.0\.1:\d+: address already in use/)]);
    // A worker left behind would still hold the listening socket: the kernel would accept this
    // connection into its backlog for nobody to serve.
    const refused = await new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve('accepted')));
      c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});
