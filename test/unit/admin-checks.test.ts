/**
 * The admin port's pure decisions and small parts, without a master process: what each probe
 * says in each state, the cluster2 ECV format, token checks, the monitor's HTTP probe, the
 * periodic runner, and the server's eviction of waiting connections.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { TokenFile, authorize } from '../../src/admin/auth';
import { ProbeSnapshot, livenessChecks, oneLine, probeAnswer, readinessChecks, servingWorkers, singleCheckAnswer } from '../../src/admin/checks';
import { ecvAnswer, ecvHeaders, localIp } from '../../src/admin/ecv-format';
import { appTarget, probeApp } from '../../src/admin/monitor';
import { PeriodicCheck } from '../../src/admin/periodic';
import { LIMITS, keepForScraper, startAdminServer } from '../../src/admin/server';
import type { IncomingMessage } from 'node:http';

type Stage = 'SPAWNED' | 'LISTENING' | 'DRAINING';
function snap(state: ProbeSnapshot['state'], stages: [generation: number, stage: Stage][], workersReady: number, over: Partial<ProbeSnapshot> = {}): ProbeSnapshot {
  return {
    state,
    generation: Math.max(1, ...stages.map(([g]) => g)),
    workersTarget: 2,
    workersReady,
    loopHealthy: true,
    workers: stages.map(([generation, stage], id) => ({
      id, pid: 100 + id, generation, stage, uptimeMs: 0, connectionsActive: 0, connectionsTotal: 0, requestsTotal: 0, rssBytes: 0, eventLoopLagMs: 0,
    })),
    ...over,
  };
}
const ECV_ON = { enabled: true, reason: 'enabled' };
const quiet = { verbose: false, exclude: [] as string[] };

describe('readiness and liveness checks', () => {
  test('STARTING with one of two workers listening is not ready; liveness passes', () => {
    const s = snap('STARTING', [[1, 'LISTENING'], [1, 'SPAWNED']], 1);
    const a = probeAnswer('readyz', readinessChecks({ snapshot: s, minReady: undefined, ecv: ECV_ON }), s, quiet);
    expect(a).toEqual({ status: 503, body: 'not ready: STARTING, 1/2 workers ready; workers: 1/2 workers ready\n' });
    expect(probeAnswer('livez', livenessChecks(s), s, quiet)).toEqual({ status: 200, body: 'ok: STARTING, 1/2 workers ready\n' });
  });

  test('--min-ready lowers the bar and says so', () => {
    const s = snap('READY', [[1, 'LISTENING'], [1, 'SPAWNED']], 1);
    const checks = readinessChecks({ snapshot: s, minReady: 1, ecv: ECV_ON });
    expect(checks[0]).toEqual({ name: 'workers', ok: true, message: '1/2 workers ready (min 1)' });
  });

  test('during a reload every listening worker counts, old generation included; draining ones do not', () => {
    const s = snap('RELOADING', [[1, 'LISTENING'], [1, 'DRAINING'], [2, 'LISTENING'], [2, 'SPAWNED']], 1);
    expect(servingWorkers(s)).toBe(2);
    const a = probeAnswer('readyz', readinessChecks({ snapshot: s, minReady: undefined, ecv: ECV_ON }), s, quiet);
    expect(a).toEqual({ status: 200, body: 'ok: RELOADING, 2/2 workers ready\n' });
    // Outside a reload only the master's count of current workers matters.
    expect(servingWorkers(snap('READY', [[1, 'LISTENING'], [1, 'LISTENING']], 1))).toBe(1);
  });

  test('DRAINING is not ready whatever the workers; STOPPED fails liveness too', () => {
    const s = snap('DRAINING', [[1, 'LISTENING'], [1, 'LISTENING']], 2);
    const checks = readinessChecks({ snapshot: s, minReady: undefined, ecv: ECV_ON });
    expect(checks.find((c) => c.name === 'shutdown')).toEqual({ name: 'shutdown', ok: false, message: 'DRAINING: shutting down' });
    expect(probeAnswer('livez', livenessChecks(s), s, quiet).status).toBe(200);
    const stopped = snap('STOPPED', [], 0);
    expect(probeAnswer('livez', livenessChecks(stopped), stopped, quiet)).toEqual({
      status: 503, body: 'not alive: STOPPED, 0/2 workers ready; supervisor: STOPPED: no longer supervising\n',
    });
  });

  test('a stalled master loop fails liveness, never readiness', () => {
    const s = snap('READY', [[1, 'LISTENING'], [1, 'LISTENING']], 2, { loopHealthy: false });
    expect(probeAnswer('livez', livenessChecks(s), s, quiet).status).toBe(503);
    expect(probeAnswer('readyz', readinessChecks({ snapshot: s, minReady: undefined, ecv: ECV_ON }), s, quiet).status).toBe(200);
  });

  test('ECV disabled, a monitor not run yet and a failing validator each fail readiness with their reason', () => {
    const s = snap('READY', [[1, 'LISTENING'], [1, 'LISTENING']], 2);
    const checks = readinessChecks({
      snapshot: s, minReady: undefined, ecv: { enabled: false, reason: 'disabled by POST /ecv/disable' },
      monitor: null, validator: { ok: false, message: 'database unreachable', at: 0 },
    });
    expect(probeAnswer('readyz', checks, s, quiet).body)
      .toBe('not ready: READY, 2/2 workers ready; ecv: disabled by POST /ecv/disable; monitor: not run yet; validator: database unreachable\n');
    expect(probeAnswer('readyz', checks, s, { verbose: true, exclude: ['ecv', 'monitor'] }).body).toBe([
      '[+]workers ok: 2/2 workers ready', '[+]shutdown ok: READY', '[+]ecv excluded: ok', '[+]monitor excluded: ok',
      '[-]validator failed: database unreachable', 'readyz check failed', '',
    ].join('\n'));
    expect(singleCheckAnswer(checks[4])).toEqual({ status: 503, body: 'validator failed: database unreachable\n' });
    expect(singleCheckAnswer(checks[0])).toEqual({ status: 200, body: 'ok\n' });
  });

  test('user text in a check is flattened to one short line', () => {
    expect(oneLine('a\nb\r\n\tc\u0000d')).toBe('a b c d');
    expect(oneLine('x'.repeat(500))).toHaveLength(200);
  });
});

describe('cluster2 ECV format', () => {
  test('AVAILABLE and DISABLED bodies, status codes and headers as cluster2 sent them', () => {
    const since = new Date('2012-05-18T16:49:32Z');
    const now = new Date('2012-05-18T16:49:49Z');
    const up = ecvAnswer(true, '127.0.0.1', 3000, since, now);
    expect(up.status).toBe(200);
    expect(up.body).toBe(`status=AVAILABLE&ServeTraffic=true&ip=127.0.0.1&hostname=${os.hostname()}&port=3000&time=${now.toString()}`);
    expect(up.headers).toEqual({ 'x-powered-by': 'Cluster2', since: since.toString(), 'cache-control': 'no-cache', connection: 'close', 'content-type': 'text/plain' });
    const down = ecvAnswer(false, '10.0.0.5', 3000, since, now);
    expect(down.status).toBe(400);
    expect(down.body.startsWith('status=DISABLED&ServeTraffic=false&ip=10.0.0.5&')).toBe(true);
    expect(ecvHeaders(since)).not.toHaveProperty('content-type');
  });

  test('the local address is unwrapped from IPv4-mapped form; a unix socket falls back to a host address', () => {
    expect(localIp('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(localIp('::1')).toBe('::1');
    expect(localIp(undefined)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });
});

describe('authorization', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-auth-'));
  const reqWith = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

  test('a token file: trimmed, compared exactly, re-read when it changes; empty or spaced tokens are usage errors', async () => {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, '  abc123\n');
    const token = TokenFile.open(file);
    expect(await token.matches('abc123')).toBe(true);
    expect(await token.matches('abc1234')).toBe(false);
    expect(await token.matches('')).toBe(false);
    fs.writeFileSync(file, 'def456\n');
    fs.utimesSync(file, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
    expect(await token.matches('def456')).toBe(true);
    expect(await token.matches('abc123')).toBe(false);
    fs.writeFileSync(path.join(dir, 'empty'), '\n');
    expect(() => TokenFile.open(path.join(dir, 'empty'))).toThrow(/the file is empty/);
    fs.writeFileSync(path.join(dir, 'spaced'), 'a b\n');
    expect(() => TokenFile.open(path.join(dir, 'spaced'))).toThrow(/one word/);
    expect(() => TokenFile.open(path.join(dir, 'missing'))).toThrow(/ENOENT/);
  });

  test('TCP: no credentials 401 with a challenge, wrong 403, right ok; no token file 403; unix socket needs none', async () => {
    const file = path.join(dir, 'token2');
    fs.writeFileSync(file, 'sekret\n');
    const token = TokenFile.open(file);
    expect(await authorize(reqWith(), 'tcp', token)).toMatchObject({ ok: false, status: 401, headers: { 'www-authenticate': 'Bearer realm="sockrun-admin"' } });
    expect(await authorize(reqWith('Bearer nope'), 'tcp', token)).toMatchObject({ ok: false, status: 403 });
    expect(await authorize(reqWith('Basic c2VrcmV0'), 'tcp', token)).toMatchObject({ ok: false, status: 401 });
    expect(await authorize(reqWith('Bearer sekret'), 'tcp', token)).toEqual({ ok: true, who: 'bearer token' });
    expect(await authorize(reqWith(), 'tcp', undefined)).toMatchObject({ ok: false, status: 403 });
    expect(await authorize(reqWith(), 'unix', undefined)).toEqual({ ok: true, who: 'unix socket' });
    expect(await authorize(reqWith('Bearer nope'), 'unix', token)).toMatchObject({ ok: false, status: 403 });
  });
});

describe('ECV monitor probe', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/ok') return res.end('fine');
      if (req.url === '/204') { res.statusCode = 204; return res.end(); }
      if (req.url === '/500') { res.statusCode = 500; return res.end('bad'); }
      if (req.url === '/redirect') { res.statusCode = 302; return res.end(); }
      if (req.url === '/huge') return res.end(Buffer.alloc(200_000));
      // /hang: never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  test('2xx passes; 3xx, 5xx, a huge body, a timeout and a refused connection fail with a reason', async () => {
    const t = { host: '127.0.0.1', port };
    expect(await probeApp(t, '/ok', 2000)).toMatchObject({ ok: true, message: expect.stringMatching(/^GET \/ok → 200 in \d+ ms$/) });
    expect(await probeApp(t, '/204', 2000)).toMatchObject({ ok: true });
    expect(await probeApp(t, '/500', 2000)).toMatchObject({ ok: false, message: expect.stringMatching(/^GET \/500 → 500 in/) });
    expect(await probeApp(t, '/redirect', 2000)).toMatchObject({ ok: false });
    expect(await probeApp(t, '/huge', 2000)).toMatchObject({ ok: false, message: expect.stringMatching(/body over 65536 bytes/) });
    expect(await probeApp(t, '/hang', 300)).toMatchObject({ ok: false, message: 'GET /hang: no answer within 300 ms' });
    const closed = await new Promise<number>((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); });
    expect(await probeApp({ host: '127.0.0.1', port: closed }, '/ok', 2000)).toMatchObject({ ok: false, message: 'GET /ok: ECONNREFUSED' });
  });

  test('the target is the first socket, wildcard addresses replaced by loopback', () => {
    expect(appTarget([{ fd: 3, name: 'a', kind: 'tcp', host: '::', port: 80 }])).toEqual({ host: '::1', port: 80 });
    expect(appTarget([{ fd: 3, name: 'a', kind: 'tcp', host: '0.0.0.0', port: 80 }])).toEqual({ host: '127.0.0.1', port: 80 });
    expect(appTarget([{ fd: 3, name: 'a', kind: 'tcp', host: '10.0.0.1', port: 80 }])).toEqual({ host: '10.0.0.1', port: 80 });
    expect(appTarget([{ fd: 3, name: 'a', kind: 'unix', path: '/run/a.sock' }])).toEqual({ socketPath: '/run/a.sock' });
    expect(appTarget([])).toBeUndefined();
  });

  test('without IPv6 loopback (disable_ipv6=1) the wildcard :: is reached at 127.0.0.1 (its bind is dual-stack)', () => {
    const noIpv6 = () => false;
    expect(appTarget([{ fd: 3, name: 'a', kind: 'tcp', host: '::', port: 80 }], noIpv6)).toEqual({ host: '127.0.0.1', port: 80 });
    expect(appTarget([{ fd: 3, name: 'a', kind: 'tcp', host: '::1', port: 80 }], noIpv6)).toEqual({ host: '::1', port: 80 });
  });
});

describe('periodic checks', () => {
  test('one run at a time; the result callback says when the verdict changed; stop() ends it', async () => {
    let calls = 0;
    let ok = true;
    let release!: () => void;
    const results: [boolean, boolean][] = [];
    const check = new PeriodicCheck('t', async () => {
      calls++;
      await new Promise<void>((r) => (release = r));
      return { ok, message: '', at: Date.now() };
    }, 60_000, (o, changed) => results.push([o.ok, changed]));
    const first = check.runNow();
    void check.runNow(); // ignored: a run is under way
    release();
    await first;
    expect(calls).toBe(1);
    const second = check.runNow();
    release();
    await second;
    ok = false;
    const third = check.runNow();
    release();
    await third;
    expect(results).toEqual([[true, true], [true, false], [false, true]]);
    check.stop();
    await check.runNow();
    expect(calls).toBe(3);
  });
});

describe('admin server transport', () => {
  test('a scraper\'s keep-alive connection stays open between scrapes (Prometheus reuses it); any other idle one closes after 2 s', async () => {
    const admin = await startAdminServer({ kind: 'tcp', host: '127.0.0.1', port: 0 }, (req, res) => {
      if (req.url === '/metrics') keepForScraper(res);
      res.end('ok');
    });
    const port = (admin.server.address() as net.AddressInfo).port;
    const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
    const get = (path: string, agent: http.Agent) => new Promise<{ reused: boolean; body: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ reused: req.reusedSocket, body: b }));
      }).on('error', reject);
    });
    try {
      expect(await get('/metrics', agents[0])).toEqual({ reused: false, body: 'ok' });
      expect(await get('/readyz', agents[1])).toEqual({ reused: false, body: 'ok' });
      // With 2 s for every connection, a 15 s or 1 min scrape interval always reconnected.
      await new Promise((r) => setTimeout(r, 5500));
      expect(await get('/metrics', agents[0])).toEqual({ reused: true, body: 'ok' });
      expect(await get('/readyz', agents[1])).toEqual({ reused: false, body: 'ok' });
      expect(LIMITS.scraperKeepAliveMs).toBeGreaterThan(60_000);
    } finally {
      for (const a of agents) a.destroy();
      await admin.close();
    }
  });

  test(`more than ${LIMITS.maxWaitingConnections} connections without a request: the oldest are evicted, a new request is still served`, async () => {
    const admin = await startAdminServer({ kind: 'tcp', host: '127.0.0.1', port: 0 }, (_req, res) => res.end('ok'));
    const port = (admin.server.address() as net.AddressInfo).port;
    const socks: { s: net.Socket; closed: boolean }[] = [];
    for (let i = 0; i < LIMITS.maxWaitingConnections + 20; i++) {
      const entry = { s: net.connect(port, '127.0.0.1'), closed: false };
      entry.s.on('error', () => {});
      entry.s.on('close', () => (entry.closed = true));
      await new Promise((r) => entry.s.once('connect', r));
      socks.push(entry);
    }
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    expect(body).toBe('ok');
    await new Promise((r) => setTimeout(r, 200));
    const closed = socks.map((x) => x.closed);
    // The first ones (oldest) went, the newest stayed.
    expect(closed.slice(0, 20).every(Boolean)).toBe(true);
    expect(closed.slice(-50).some(Boolean)).toBe(false);
    for (const x of socks) x.s.destroy();
    await admin.close();
  });
});
