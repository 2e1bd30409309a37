/**
 * The core runner with real processes and sockets: where sockets come from, how workers share
 * them, what happens when workers or the master die, and how bad input is refused.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { CLI, FIXTURES, ROOT, Sockrun, cleanup, eventually, exitOf, freePort, isAlive, request, sleep, spawnWithFd3, startLoad } from '../helpers/sockrun';

const hello = path.join(FIXTURES, 'hello.js');
afterEach(cleanup);

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

async function pidsSeen(target: { port?: number; socketPath?: string }, n: number): Promise<Set<string>> {
  const pids = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await request(target, '/');
    pids.add(/(\d+)\s*$/.exec(r.body)![1]);
  }
  return pids;
}

describe('sockets', () => {
  test('--listen TCP: an app that calls listen(3000) serves on the shared socket from every worker', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, hello]);
    await s.ready();
    const pids = await pidsSeen({ port }, 60);
    expect(pids.size).toBe(2);
    expect([...pids].map(Number).sort()).toEqual(s.workerPids().sort());
  });

  test('an https server is redirected like any other (drop-in)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-tls-'));
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, path.join(FIXTURES, 'https.js')], { env: { TLS_KEY: key, TLS_CERT: cert } });
    await s.ready();
    const body = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/', ca: fs.readFileSync(cert), rejectUnauthorized: false, agent: false }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    expect(body).toMatch(/^tls \d+/);
    expect(s.workerPids()).toContain(Number(/(\d+)/.exec(body)![1]));
  });

  test('--listen unix:/path serves on a unix socket and removes it at exit', async () => {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-')), 'app.sock');
    const s = new Sockrun(['-w', '2', '-l', `unix:${sock}`, hello]);
    await s.ready();
    expect((await request({ socketPath: sock }, '/')).body).toMatch(/^hello from \d+/);
    s.signal('SIGTERM');
    expect((await s.exited).code).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
  });

  test('--listen [::1]:PORT serves IPv6', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `[::1]:${port}`, hello]);
    await s.ready();
    expect((await request({ host: '::1', port }, '/')).status).toBe(200);
  });

  test('systemd-socket-activate with two named sockets: mapped by name (API) and by port (drop-in)', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const child = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${p1}`, '-l', `127.0.0.1:${p2}`, '--fdname=http:second',
      '-E', `SECOND_PORT=${p2}`, '-E', `PATH=${process.env.PATH}`,
      process.execPath, CLI, '--log-format', 'json', '-w', '2', path.join(FIXTURES, 'two-sockets.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    try {
      // systemd-socket-activate starts the program on the first connection; that one waits in the backlog.
      await eventually(() => canConnect(p1), 5000, 'systemd-socket-activate listening');
      const first = await request({ port: p1 }, '/');
      expect(first.body).toMatch(/^http \d+/);
      expect((await request({ port: p2 }, '/')).body).toMatch(/^second \d+/);
      // The master's first lines are written once its workers listen (log.ts): a moment after they answer.
      await eventually(() => out.includes('"msg":"starting"'), 5000, 'the starting line');
      expect(out).toContain('http=127.0.0.1:' + p1 + ' (systemd fd 3)');
      expect(out).toContain('second=127.0.0.1:' + p2 + ' (systemd fd 4)');
      await eventually(() => out.includes('"msg":"ready"'), 15_000, 'every worker listening');
      const pids = await pidsSeen({ port: p1 }, 60);
      expect(pids.size).toBe(2);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  test('--fd 3:http uses a listening socket opened by the parent', async () => {
    const port = await freePort();
    // The parent (python here, as einhorn or a container runtime would) binds and passes fd 3.
    const child = spawnWithFd3(`s=socket.create_server(('127.0.0.1',${port}))`, ['--log-format', 'json', '-w', '2', '--fd', '3:http', hello]);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    try {
      await eventually(() => out.includes('"msg":"ready"'), 15_000, 'ready');
      expect(out).toContain(`http=127.0.0.1:${port} (--fd 3)`);
      expect((await pidsSeen({ port }, 40)).size).toBe(2);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });

  test('the master holds the listening socket but never accepts a connection, even under load', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, hello]);
    await s.ready();
    const load = startLoad(port, { concurrency: 8, keepAlive: false });
    await sleep(1500);
    const established = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
    const listening = execFileSync('ss', ['-Hltnp', `( sport = :${port} )`], { encoding: 'utf8' });
    const result = await load.stop();
    expect(result.ok).toBeGreaterThan(100);
    expect(listening).toContain(`pid=${s.pid},`);
    expect(established).not.toContain(`pid=${s.pid},`);
    expect(established).toMatch(/pid=\d+/);
  });
});

describe('supervision', () => {
  test('a worker that crashes is replaced and the socket keeps accepting', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, hello]);
    await s.ready();
    const before = s.workerPids();
    await request({ port }, '/crash').catch(() => undefined);
    const died = await s.waitFor('worker died');
    expect(died.reason).toBe('crash');
    await eventually(() => s.lines.filter((l) => l.msg === 'worker listening').length >= 3, 10_000, 'replacement');
    const after = s.workerPids();
    expect(after).toHaveLength(2);
    expect(after.filter((p) => !before.includes(p))).toHaveLength(1);
    expect((await request({ port }, '/')).status).toBe(200);
  });

  test('a worker SIGKILLed under load is replaced with no refused connection', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, hello]);
    await s.ready();
    const load = startLoad(port, { concurrency: 4 });
    await sleep(300);
    process.kill(s.workerPids()[0], 'SIGKILL');
    await s.waitFor((l) => l.msg === 'worker listening' && l.worker === 0 && l.workerPid !== s.lines.find((x) => x.msg === 'worker listening')!.workerPid);
    await sleep(300);
    const r = await load.stop();
    expect(r.errors.ECONNREFUSED ?? 0).toBe(0);
    expect(r.ok).toBeGreaterThan(50);
  });

  test('when the master is SIGKILLed, every worker exits within a second', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, hello]);
    await s.ready();
    const workers = s.workerPids();
    expect(workers).toHaveLength(2);
    s.signal('SIGKILL');
    await s.exited;
    const t0 = Date.now();
    await eventually(() => workers.every((p) => !isAlive(p)), 5000, 'workers gone');
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  test('an app that throws at boot: exit BOOT_FAILED with the app\'s error, no respawn loop', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, path.join(FIXTURES, 'boot-fail.js')]);
    const { code } = await s.exited;
    expect(code).toBe(ExitCode.BOOT_FAILED);
    expect(s.stdout).toContain('database password missing');
    expect(s.lines.filter((l) => l.msg === 'spawned worker' || l.msg === 'worker failed to boot').length).toBeLessThanOrEqual(4);
  });
});

describe('single-process mode', () => {
  test('--workers 0 runs the app in the master process; SIGTERM lets in-flight requests finish', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '0', '-l', `127.0.0.1:${port}`, hello]);
    await s.waitFor((l) => /single-process mode/.test(l.msg));
    const first = await eventually(() => request({ port }, '/').catch(() => undefined), 10_000, 'serving');
    expect(first!.body).toBe(`hello from ${s.pid}\n`);
    expect(s.workerPids()).toEqual([]);
    const slow = request({ port }, '/slow?ms=800');
    await sleep(200);
    s.signal('SIGTERM');
    expect((await slow).status).toBe(200);
    expect((await s.exited).code).toBe(0);
  });
});

describe('bad input: one line on stderr, a documented exit code', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  const expectOneLine = (stderr: string, re: RegExp) => {
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(re);
  };

  test('a busy port', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const r = await run(['-l', `127.0.0.1:${port}`, hello]);
      expect(r.code).toBe(ExitCode.PORT_BUSY);
      expectOneLine(r.stderr, new RegExp(`--listen 127.0.0.1:${port}: address already in use`));
    } finally {
      blocker.close();
    }
  });

  test('--fd that is not open', async () => {
    const r = await run(['--fd', '57', hello]);
    expect(r.code).toBe(ExitCode.BAD_FD);
    expectOneLine(r.stderr, /fd 57 is not open/);
  });

  test('--fd that is a file, not a socket', async () => {
    const child = spawn(process.execPath, [CLI, '--fd', '3', hello], { stdio: ['ignore', 'ignore', 'pipe', fs.openSync(hello, 'r')] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(ExitCode.BAD_FD);
    expectOneLine(stderr, /fd 3 is .*hello\.js, not a socket/);
  });

  test('--fd that is a connection, not a listening socket (a socket unit with Accept=yes)', async () => {
    const connection = "l=socket.create_server(('127.0.0.1',0)); c=socket.create_connection(l.getsockname()); s,_=l.accept()";
    const { code, stderr } = await exitOf(spawnWithFd3(connection, ['--fd', '3', hello]));
    expect(code).toBe(ExitCode.BAD_FD);
    expectOneLine(stderr, /--fd 3 is a connected socket \(peer 127\.0\.0\.1:\d+\), not a listening one/);
  });

  test('--fd that is a UDP socket', async () => {
    const udp = "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1',0))";
    const { code, stderr } = await exitOf(spawnWithFd3(udp, ['--fd', '3', hello]));
    expect(code).toBe(ExitCode.BAD_FD);
    expectOneLine(stderr, /--fd 3 is a UDP socket, not a stream socket/);
  });

  test('garbage in LISTEN_FDS addressed to us', async () => {
    // LISTEN_PID must be sockrun's own pid: exec through sh so the pid is known in advance.
    const child = spawn('sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=two exec "${process.execPath}" "${CLI}" "${hello}"`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(ExitCode.BAD_LISTEN_FDS);
    expectOneLine(stderr, /LISTEN_FDS="two" is not a count/);
  });

  test('LISTEN_FDS meant for another process is ignored', async () => {
    const r = await run([hello], { LISTEN_PID: '1', LISTEN_FDS: '1' });
    expect(r.code).toBe(ExitCode.USAGE);
    expectOneLine(r.stderr, /no socket to serve/);
  });

  test('an unknown option', async () => {
    const r = await run(['--wrokers', '2', hello]);
    expect(r.code).toBe(ExitCode.USAGE);
    expectOneLine(r.stderr, /Unknown argument: wrokers/);
  });

  test('a garbage environment variable', async () => {
    const r = await run(['-l', '8080', hello], { SOCKRUN_GRACEFUL_TIMEOUT: 'soon' });
    expect(r.code).toBe(ExitCode.USAGE);
    expectOneLine(r.stderr, /SOCKRUN_GRACEFUL_TIMEOUT: "soon" is not a duration/);
  });

  test('a missing app file', async () => {
    const r = await run(['-l', '8080', path.join(ROOT, 'no-such-app.js')]);
    expect(r.code).toBe(ExitCode.APP_NOT_FOUND);
    expectOneLine(r.stderr, /app .*no-such-app\.js not found/);
  });
});
