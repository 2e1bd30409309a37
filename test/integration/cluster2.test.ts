/**
 * cluster2's README examples, run as its users run them (`node app.js`), changed only in their
 * require line: each one is started, hit by a real client, and stopped; no process may be left.
 *
 * The examples hard-code `port: 3000`. SOCKRUN_LISTEN overrides it (environment variables
 * override Cluster options as they override a config file), so tests never fight over port 3000;
 * "the port option is honoured" has its own test below, with a fixture that takes its port from
 * the environment.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as http from 'node:http';
import * as os from 'node:os';
import { ExitCode } from '../../src/errors';
import { request as control } from '../../src/control/client';
import { controlSocketPath } from '../../src/control/paths';
import type { MasterSnapshot } from '../../src/master/master';
import { eventually, freePort, isAlive, request, sleep } from '../helpers/sockrun';
import { App, allGone, cleanupApps, runScript, serving, underCli } from '../fixtures/cluster2/harness';

afterEach(cleanupApps);
jest.setTimeout(30_000);

async function startExample(script: string, env: NodeJS.ProcessEnv = {}): Promise<{ app: App; port: number }> {
  const port = await freePort();
  const app = new App(script, { env: { SOCKRUN_LISTEN: `127.0.0.1:${port}`, SOCKRUN_WORKERS: '2', ...env } });
  await app.ready();
  return { app, port };
}

/** One TCP conversation with the echo server: greeting, echo, then a clean end. */
function talk(port: number, say: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => socket.destroy(new Error('echo timeout')));
    socket.on('data', (d: string) => {
      got += d;
      if (got === 'hello\r\n') socket.write(say);
      if (got === `hello\r\n${say}`) socket.end();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

function exitsOf(app: App): { code: unknown; reason: unknown; workerPid: unknown }[] {
  return app.logs('worker exited').concat(app.logs('worker died')).map((l) => ({ code: l.code, reason: l.reason, workerPid: l.workerPid }));
}

describe('cluster2 README examples, unchanged but for the require line', () => {
  test('TCP server: every worker greets and echoes; the stop script (c.stop()) ends master and workers', async () => {
    const { app, port } = await startExample('tcp-server.js');
    const workers = app.workerPids();
    expect(workers).toHaveLength(2);
    for (let i = 0; i < 6; i++) expect(await talk(port, `ping ${i}\n`)).toBe(`hello\r\nping ${i}\n`);
    await app.until('"server disconnected" from the workers', () => app.lines(/^server disconnected$/).length === 6);
    // The master never serves: every connection was accepted by a worker.
    expect(fs.readFileSync(path.join(app.cwd, 'pids', 'master.pid'), 'utf8').trim()).toBe(String(app.pid));

    const stop = await runScript('stop.js', app.cwd);
    expect(stop).toMatchObject({ status: 0, stderr: '' });
    expect(isAlive(app.pid)).toBe(false); // the script returns once the master is gone
    expect(await app.exited).toEqual({ code: ExitCode.OK, signal: null });
    expect(await allGone(workers)).toBe(true);
    expect(fs.existsSync(path.join(app.cwd, 'pids', 'master.pid'))).toBe(false);
  });

  test('HTTP server: answers "hello" from both workers; the shutdown script (c.shutdown()) drains and exits 0', async () => {
    const { app, port } = await startExample('http-server.js');
    const workers = app.workerPids();
    for (let i = 0; i < 40; i++) {
      const r = await request({ port }, '/');
      expect(r).toMatchObject({ status: 200, body: 'hello' });
    }
    // Both workers accepted connections (their pinged stats, read from the master's control socket).
    await eventually(async () => {
      const s = (await control(controlSocketPath(app.pid), 'status', 5000)).status as MasterSnapshot;
      return s.connectionsTotal >= 40 && s.workers.length === 2 && s.workers.every((w) => w.connectionsTotal > 0);
    }, 10_000, 'both workers to report connections');

    const shutdown = await runScript('shutdown.js', app.cwd);
    expect(shutdown).toMatchObject({ status: 0, stderr: '' });
    expect(isAlive(app.pid)).toBe(false);
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(exitsOf(app).sort((a, b) => Number(a.workerPid) - Number(b.workerPid)))
      .toEqual(workers.sort((a, b) => a - b).map((pid) => ({ code: 0, reason: 'shutdown', workerPid: pid })));
    expect(await allGone(workers)).toBe(true);
  });

  test('express server (express() for express.createServer(), which express 3 removed): GET / says hello; SIGTERM drains', async () => {
    const { app, port } = await startExample('express-server.js');
    const workers = app.workerPids();
    const r = await request({ port }, '/');
    expect(r.status).toBe(200);
    expect(r.body).toBe('hello');
    expect(r.headers['x-powered-by']).toBe('Express');
    expect((await request({ port }, '/nope')).status).toBe(404);
    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(await allGone(workers)).toBe(true);
  });

  test('graceful shutdown with a close handler: a busy keep-alive client is told "connection: close", an idle one is closed, nothing fails', async () => {
    const { app, port } = await startExample('graceful-server.js');
    const workers = app.workerPids();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await request({ port }, '/', { agent })).body).toBe('hello');

    // An idle keep-alive connection, and a client that keeps sending on its own one.
    const idle = net.connect(port, '127.0.0.1');
    await new Promise((r) => idle.once('connect', r));
    idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const idleClosed = new Promise<string>((resolve) => {
      let got = '';
      idle.setEncoding('utf8').on('data', (d: string) => (got += d));
      idle.on('close', (hadError) => resolve(hadError ? `error after ${got}` : got));
    });
    let told = false;
    const failures: string[] = [];
    let ok = 0;
    const busy = (async () => {
      while (!told) {
        try {
          const r = await request({ port }, '/', { agent });
          if (r.status !== 200 || r.body !== 'hello') failures.push(`${r.status} ${r.body}`);
          ok++;
          if (r.headers.connection === 'close') told = true;
        } catch (err) {
          failures.push((err as Error).message);
          return;
        }
        await sleep(20);
      }
    })();
    await eventually(() => ok >= 5, 5000, 'the busy client to get going');

    const shutdown = await runScript('shutdown.js', app.cwd);
    expect(shutdown.status).toBe(0);
    await busy;
    agent.destroy();
    expect(failures).toEqual([]);
    expect(told).toBe(true);
    // The idle connection got its answer, then the server closed it: no reset, no hang.
    expect(await idleClosed).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/);
    // Drained, not forced (that would be exit code 9).
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(exitsOf(app).map((e) => e.code)).toEqual([0, 0]);
    expect(await allGone(workers)).toBe(true);
  });

  test('the events logger: forked, died (a crash, then at stop), the replacement, and SIGKILL for stop()', async () => {
    const { app, port } = await startExample('events-logger.js');
    await app.until('two forked lines', () => app.lines(/^Worker \d+ forked$/).length === 2);
    const [first, second] = app.lines(/forked$/).map((l) => Number(/\d+/.exec(l)![0]));
    expect(app.workerPids().sort()).toEqual([first, second].sort());
    expect((await request({ port }, '/')).body).toBe('hello');

    process.kill(first, 'SIGKILL');
    await app.until('the crash reported and replaced', () => app.lines(new RegExp(`^Worker ${first} died$`)).length === 1
      && app.lines(/forked$/).length === 3);
    const replacement = Number(/\d+/.exec(app.lines(/forked$/)[2])![0]);
    await eventually(async () => (await request({ port }, '/')).body === 'hello', 5000, 'serving after the crash');

    expect((await runScript('stop.js', app.cwd)).status).toBe(0);
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(app.lines(/^Got SIGKILL$/)).toHaveLength(1);
    expect(app.lines(/died$/).sort()).toEqual([first, second, replacement].map((p) => `Worker ${p} died`).sort());
    expect(await allGone([second, replacement])).toBe(true);
  });

  test('the events logger: SIGTERM and SIGINT are emitted by name when the master receives them', async () => {
    const term = await startExample('events-logger.js');
    const int = await startExample('events-logger.js');
    term.app.signal('SIGTERM');
    int.app.signal('SIGINT');
    expect((await term.app.exited).code).toBe(ExitCode.OK);
    expect((await int.app.exited).code).toBe(ExitCode.OK);
    // The master's line, and one from each worker told to drain (cluster2 emitted SIGTERM there too).
    expect(term.app.lines(/^Got SIGTERM - shutting down$/)).toHaveLength(3);
    expect(term.app.lines(/^Got SIGINT$/)).toHaveLength(0);
    expect(int.app.lines(/^Got SIGINT$/)).toHaveLength(1);
    expect(term.app.lines(/died$/)).toHaveLength(2);
    expect(int.app.lines(/died$/)).toHaveLength(2);
  });
});

describe('the Cluster API beyond the README examples', () => {
  test('ESM: import { Cluster } from "sockrun" runs the same HTTP example', async () => {
    const { app, port } = await startExample('esm-server.mjs');
    expect((await request({ port }, '/')).body).toBe('hello');
    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
  });

  test('port, host, noWorkers, pids, timeout and connThreshold are honoured; died carries code, signal and reason; SIGHUP emits reloaded', async () => {
    const port = await freePort();
    const app = new App('events-json.js', { env: { PORT: String(port) } });
    await app.ready();
    // The master's events (workers print theirs too: 'listening', 'SIGTERM', the listen callback).
    const events = (name: string) => app.json.filter((l) => l.event === name && l.pid === app.pid);
    expect(app.logs('starting')[0].sockets).toEqual([`unknown=127.0.0.1:${port} (--listen 127.0.0.1:${port})`]);
    expect(app.workerPids()).toHaveLength(3);
    expect(events('forked')).toHaveLength(3);
    await app.until('listen() callback in the master and in each worker', () => app.json.filter((l) => l.event === 'listen-callback').length === 4);
    expect(fs.readFileSync(path.join(app.cwd, 'run', 'master.pid'), 'utf8').trim()).toBe(String(app.pid));

    // A crash: code and signal as the OS reported them.
    const victim = app.workerPids()[0];
    process.kill(victim, 'SIGKILL');
    await app.until('the crash', () => events('died').some((e) => (e.args as unknown[])[0] === victim));
    const died = events('died').find((e) => (e.args as unknown[])[0] === victim)!.args as [number, Record<string, unknown>];
    expect(died[1]).toMatchObject({ code: null, signal: 'SIGKILL', reason: 'signal', generation: 1 });
    await app.until('the replacement listening', () => events('listening').length === 4);

    // timeout: 500 → an idle connection is ended by the worker.
    const idle = net.connect(port, '127.0.0.1');
    const t0 = Date.now();
    await new Promise((r) => idle.once('close', r));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(Date.now() - t0).toBeLessThan(5000);

    // connThreshold: 5 → a worker that accepted more than 5 connections is recycled.
    for (let i = 0; i < 24; i++) await request({ port }, '/');
    await app.until('a recycled worker', () => events('died').some((e) => (e.args as [number, { reason: string }])[1].reason === 'recycle'));

    await app.until('three workers again', () => app.json.filter((l) => l.msg === 'worker listening').length >= events('forked').length);
    app.signal('SIGHUP');
    await app.until('reloaded', () => events('reloaded').length === 1, 20_000);
    expect(events('SIGHUP')[0].args).toEqual([{ pid: app.pid, type: 'master' }]);
    expect(events('reloaded')[0].args).toEqual([expect.objectContaining({ ok: true, generation: 2 })]);

    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(events('stopped').map((e) => e.args)).toEqual([[0]]);
    expect(events('state').map((e) => (e.args as string[])[0])).toEqual(['READY', 'RELOADING', 'READY', 'DRAINING', 'STOPPED']);
  });

  test('systemd socket activation: the master adopts LISTEN_FDS and the port option binds nothing', async () => {
    const port = await freePort();
    const app = new App('http-server.js', {
      env: { SOCKRUN_WORKERS: '2' },
      command: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`, '-E', `PATH=${process.env.PATH}`, '-E', 'SOCKRUN_WORKERS=2',
        '-E', 'SOCKRUN_LOG_FORMAT=json', process.execPath, path.join(__dirname, '..', 'fixtures', 'cluster2', 'http-server.js')],
    });
    // systemd-socket-activate execs the app on the first connection, which waits in the backlog.
    await eventually(() => canConnect(port), 5000, 'systemd-socket-activate listening');
    expect((await request({ port }, '/')).body).toBe('hello');
    await app.ready();
    expect(app.logs('starting')[0].sockets).toEqual([`unknown=127.0.0.1:${port} (systemd fd 3)`]);
    expect(await portIsOurs(3000, app)).toBe(false);
    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
  });

  test('a busy port fails the start with a one-line error and exit code 4, as cluster2 did', async () => {
    const blocker = net.createServer();
    const port = await new Promise<number>((r) => blocker.listen(0, '127.0.0.1', () => r((blocker.address() as net.AddressInfo).port)));
    try {
      const app = new App('http-server.js', { env: { SOCKRUN_LISTEN: `127.0.0.1:${port}` } });
      expect((await app.exited).code).toBe(ExitCode.PORT_BUSY);
      expect(app.err.trim()).toBe(`sockrun: --listen 127.0.0.1:${port}: address already in use`);
    } finally {
      blocker.close();
    }
  });

  test('new Cluster({shutdown: true}).listen() is a shutdown script too', async () => {
    const { app } = await startExample('http-server.js');
    const workers = app.workerPids();
    expect((await runScript('shutdown-option.js', app.cwd)).status).toBe(0);
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(app.logs('control command').map((l) => l.cmd)).toEqual(['shutdown']);
    expect(await allGone(workers)).toBe(true);
  });

  test('stop() with no master running: a clear error and exit code 10, not a crash', async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-c2-'));
    const r = await runScript('stop.js', cwd);
    expect(r.status).toBe(ExitCode.NO_MASTER);
    expect(r.stderr.trim()).toBe(`sockrun: pid file ${path.join(cwd, 'pids', 'master.pid')} does not exist: is sockrun running?`);
  });

  test('the same script under the sockrun CLI: Cluster only serves (the CLI is the master)', async () => {
    const port = await freePort();
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-c2-'));
    const app = underCli('events-logger.js', ['-w', '2', '-l', `127.0.0.1:${port}`], { cwd });
    await app.ready();
    expect((await request({ port }, '/')).body).toBe('hello');
    // The CLI master has no Cluster: no forked lines, and no pid file in the app's directory.
    expect(app.lines(/forked$/)).toEqual([]);
    expect(fs.existsSync(path.join(cwd, 'pids'))).toBe(false);
    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(app.lines(/^Got SIGTERM - shutting down$/)).toHaveLength(2); // the workers'
  });
});

describe('cluster: false (single process)', () => {
  test('serves from this one process, answers delegate() in-process, drains on SIGTERM with a request in flight', async () => {
    const port = await freePort();
    const app = new App('single-process.js', { env: { PORT: String(port) } });
    await app.until('listening', () => app.json.some((l) => l.event === 'listening'));
    expect(app.workerPids()).toEqual([]);
    expect((await request({ port }, '/')).body).toBe(`hello from ${app.pid}\n`);
    expect(JSON.parse((await request({ port }, '/delegate')).body)).toEqual({ answeredBy: app.pid, asked: app.pid });

    const slow = request({ port }, '/slow?ms=800');
    await sleep(200);
    app.signal('SIGTERM');
    const r = await slow;
    expect(r.body).toBe(`slow ${app.pid}\n`);
    expect(r.headers.connection).toBe('close');
    expect((await app.exited).code).toBe(ExitCode.OK);
    expect(app.json.filter((l) => l.event === 'SIGTERM').map((l) => l.args)).toEqual([[{ pid: app.pid, type: 'master' }]]);
    expect(app.json.filter((l) => l.event === 'shutdown-hook')).toHaveLength(1); // onShutdown hooks ran
    expect(app.json.filter((l) => l.event === 'stopped').map((l) => l.args)).toEqual([[0]]);
    expect(isAlive(app.pid)).toBe(false);
  });

  test('the same script under `sockrun --workers 0`: the Cluster serves in the CLI\'s one process', async () => {
    const port = await freePort();
    const app = underCli('http-server.js', ['-w', '0', '-l', `127.0.0.1:${port}`]);
    await serving(port);
    expect(app.workerPids()).toEqual([]);
    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
  });

  test('zero workers (SOCKRUN_WORKERS=0 here) means the same: the README\'s HTTP example in one process', async () => {
    const port = await freePort();
    const app = new App('http-server.js', { env: { SOCKRUN_LISTEN: `127.0.0.1:${port}`, SOCKRUN_WORKERS: '0' } });
    await serving(port);
    expect(app.workerPids()).toEqual([]);
    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(ExitCode.OK);
  });

  test('a busy port: one-line error, exit code 4', async () => {
    const blocker = net.createServer();
    const port = await new Promise<number>((r) => blocker.listen(0, '127.0.0.1', () => r((blocker.address() as net.AddressInfo).port)));
    try {
      const app = new App('single-process.js', { env: { PORT: String(port) } });
      expect((await app.exited).code).toBe(ExitCode.PORT_BUSY);
      expect(app.err.trim()).toBe(`sockrun: --listen 127.0.0.1:${port}: address already in use`);
    } finally {
      blocker.close();
    }
  });
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** Whether anything of `app` (master or workers) has a socket bound to `port`. */
async function portIsOurs(port: number, app: App): Promise<boolean> {
  const pids = [app.pid, ...app.workerPids()];
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols[1]?.endsWith(`:${hex}`)) inodes.add(cols[9]);
    }
  }
  for (const pid of pids) {
    for (const fd of safeReaddir(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(safeReadlink(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1])) return true;
    }
  }
  return false;
}

function safeReaddir(p: string): string[] {
  try {
    return fs.readdirSync(p);
  } catch {
    return [];
  }
}

function safeReadlink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '';
  }
}
