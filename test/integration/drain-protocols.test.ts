/**
 * Every protocol drains cleanly (issue 13), counted by real clients of each: grpc-js, Node's
 * HTTP/2 client holding a session (h2c and TLS, compatibility and stream API), `ws` clients,
 * long-polls and server-sent events under --idle-timeout.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReconnectingWs, startGrpcLoad, startH2Load } from '../helpers/protocols';
import { FIXTURES, LogLine, Reply, Sockrun, cleanup, eventually, freePort, request, sleep } from '../helpers/sockrun';

afterEach(cleanup);

/** A reload under way: SIGHUP, then the 'reload complete' line (with its durationMs). */
async function reload(s: Sockrun): Promise<LogLine> {
  const before = s.lines.length;
  s.signal('SIGHUP');
  return s.waitFor((l) => l.msg === 'reload complete' && s.lines.indexOf(l) >= before, 40_000);
}

function selfSignedCert(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-tls-'));
  const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  return { key, cert };
}

/** Sends `payload`, waits for the first answer, then for the server to close: resolves with that wait (ms), rejects after 4 s. */
async function msUntilClosedByServer(port: number, payload: string): Promise<number> {
  const c = net.connect(port, '127.0.0.1');
  c.write(payload);
  await new Promise((r) => c.once('data', r));
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise((r) => c.once('close', r)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('still open 4 s after the answer')), 4000))),
  ]).finally(() => {
    clearTimeout(timer);
    c.destroy();
  });
  return Date.now() - t0;
}

const killedAtTimeout = (s: Sockrun) => s.lines.filter((l) => /graceful timeout/.test(l.msg));

describe('gRPC (@grpc/grpc-js, unmodified)', () => {
  test('calls through a reload under load: none fails, and the reload takes far less than the graceful timeout', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--graceful-timeout', '30s', path.join(FIXTURES, 'grpc.js')]);
    await s.ready();
    const before = s.workerPids();
    const load = startGrpcLoad(port, { concurrency: 8, delayMs: 20 });
    await sleep(1000);
    const done = await reload(s);
    await sleep(1000);
    const r = await load.stop();
    expect(r.errors).toEqual({});
    expect(r.ok).toBeGreaterThan(200);
    expect(done.durationMs).toBeLessThan(10_000);
    expect(killedAtTimeout(s)).toEqual([]);
    const answered = [...r.pids.keys()].map(Number);
    expect(answered.some((p) => before.includes(p))).toBe(true);
    expect(answered.some((p) => s.workerPids().includes(p))).toBe(true);
  });
});

describe('HTTP/2', () => {
  const tls = selfSignedCert();
  test.each([
    ['h2c, compatibility API', {}],
    ['h2c, stream API (as grpc-js)', { H2_API: 'stream' }],
    ['TLS with HTTP/1.1 fallback, compatibility API', { H2_TLS_KEY: tls.key, H2_TLS_CERT: tls.cert }],
  ])('a client holding one session through a reload (%s): GOAWAY, streams in flight finish, none fails', async (_shape, env: Record<string, string>) => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--graceful-timeout', '30s', path.join(FIXTURES, 'h2.js')], { env });
    await s.ready();
    const before = s.workerPids();
    const origin = `${env.H2_TLS_KEY ? 'https' : 'http'}://127.0.0.1:${port}`;
    const load = startH2Load(origin, { concurrency: 8, paths: ['/', '/slow?ms=300'], ca: env.H2_TLS_KEY ? fs.readFileSync(tls.cert) : undefined });
    await sleep(1000);
    const done = await reload(s);
    await sleep(1000);
    const r = await load.stop();
    console.log(`HTTP/2 reload (${_shape}): ${r.ok} streams answered, ${r.retried} refused and sent again, ${r.sessions} sessions, reload ${String(done.durationMs)} ms`);
    expect(r.errors).toEqual({});
    expect(r.ok).toBeGreaterThan(50);
    expect(r.goaways).toContain(0); // NO_ERROR: a graceful GOAWAY, not a reset
    expect(r.sessions).toBeGreaterThanOrEqual(2);
    expect(done.durationMs).toBeLessThan(10_000);
    expect(killedAtTimeout(s)).toEqual([]);
    const answered = [...r.pids.keys()].map(Number);
    expect(answered.some((p) => before.includes(p))).toBe(true);
    expect(answered.some((p) => s.workerPids().includes(p))).toBe(true);
  });

  test('on one TLS server during a drain, an HTTP/1.1 response in flight carries Connection: close and an HTTP/2 one none', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, path.join(FIXTURES, 'h2.js')], { env: { H2_TLS_KEY: tls.key, H2_TLS_CERT: tls.cert } });
    await s.ready();
    const ca = fs.readFileSync(tls.cert);
    const h1 = new Promise<Reply>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/slow?ms=800', ca, rejectUnauthorized: false, headers: { connection: 'keep-alive' } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      }).on('error', reject);
    });
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca, rejectUnauthorized: false });
    const h2 = new Promise<{ headers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const stream = session.request({ ':path': '/slow?ms=800' });
      let headers: http2.IncomingHttpHeaders = {};
      let body = '';
      stream.on('response', (h) => (headers = h));
      stream.on('data', (d) => (body += d));
      stream.on('end', () => resolve({ headers, body }));
      stream.on('error', reject);
    });
    await sleep(300);
    s.signal('SIGTERM');
    const [one, two] = await Promise.all([h1, h2]);
    expect(one.body).toMatch(/^http1 \d+/);
    expect(one.headers.connection).toBe('close');
    expect(two.body).toMatch(/^h2 \d+/);
    expect(two.headers[':status']).toBe(200);
    expect(two.headers.connection).toBeUndefined();
    expect((await s.exited).code).toBe(0);
    session.destroy();
  });
});

describe('WebSockets (ws)', () => {
  const ws = path.join(FIXTURES, 'ws.js');

  test('on a reload every client gets close code 1001 from the app\'s SIGTERM listener and reconnects to the new generation', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--graceful-timeout', '30s', ws]);
    await s.ready();
    const before = s.workerPids();
    const clients = Array.from({ length: 6 }, () => new ReconnectingWs(`ws://127.0.0.1:${port}/`));
    await Promise.all(clients.map((c) => c.greetedBy()));
    const done = await reload(s);
    const after = s.workerPids();
    const reconnected = await Promise.all(clients.map((c) => c.greetedBy(before)));
    clients.forEach((c) => c.stop());
    expect(clients.map((c) => c.sessions[0].close?.code)).toEqual([1001, 1001, 1001, 1001, 1001, 1001]);
    expect(reconnected.every((x) => after.includes(x.pid))).toBe(true);
    expect(done.durationMs).toBeLessThan(10_000);
    expect(killedAtTimeout(s)).toEqual([]);
  });

  test('on a shutdown every client gets 1001 from the app\'s drain hook (sockrun.onDrain), and the master exits 0 at once', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--graceful-timeout', '30s', ws], { env: { WS_CLOSE_ON: 'hook' } });
    await s.ready();
    const clients = Array.from({ length: 4 }, () => new ReconnectingWs(`ws://127.0.0.1:${port}/`));
    await Promise.all(clients.map((c) => c.greetedBy()));
    const t0 = Date.now();
    s.signal('SIGTERM');
    expect((await s.exited).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await eventually(() => clients.every((c) => c.sessions[0].close), 5000, 'every close seen');
    clients.forEach((c) => c.stop());
    expect(clients.map((c) => c.sessions[0].close?.code)).toEqual([1001, 1001, 1001, 1001]);
  });

  test('WebSockets the app leaves open are not idle keep-alive: they stay until just before --graceful-timeout, then the worker ends them and exits by itself', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, '--graceful-timeout', '2500ms', ws], { env: { WS_CLOSE_ON: 'never' } });
    await s.ready();
    const client = new ReconnectingWs(`ws://127.0.0.1:${port}/`);
    await client.greetedBy();
    const t0 = Date.now();
    s.signal('SIGTERM');
    expect((await s.exited).code).toBe(0); // not DRAIN_FORCED: nothing had to be killed
    await eventually(() => client.sessions[0].close, 5000, 'the close');
    client.stop();
    expect(client.sessions[0].close!.afterMs - t0).toBeGreaterThanOrEqual(1500);
    expect(s.stderr).toMatch(/ended 1 upgraded connection/);
  });
});

describe('long-poll, server-sent events and --idle-timeout', () => {
  const app = path.join(FIXTURES, 'long-poll.js');

  test('a long-poll and an SSE stream quieter than --idle-timeout are answered in full', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, '--idle-timeout', '1s', app]);
    await s.ready();
    const [poll, sse] = await Promise.all([request({ port }, '/poll?ms=2500'), request({ port }, '/sse?events=3&gap=1500')]);
    expect(poll.status).toBe(200);
    expect(poll.body).toMatch(/^polled \d+/);
    expect(sse.body).toBe('data: event 1\n\ndata: event 2\n\ndata: event 3\n\n');
  });

  test('a keep-alive connection idle between requests, and a raw TCP connection without I/O, are ended after --idle-timeout', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, '--idle-timeout', '1s', app]);
    await s.ready();
    expect(await msUntilClosedByServer(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')).toBeGreaterThanOrEqual(900);

    const tcpPort = await freePort();
    const e = new Sockrun(['-w', '1', '-l', `127.0.0.1:${tcpPort}`, '--idle-timeout', '1s', path.join(FIXTURES, 'echo.js')]);
    await e.ready();
    expect(await msUntilClosedByServer(tcpPort, 'ping\n')).toBeGreaterThanOrEqual(900);
  });
});
