/**
 * Port conflicts with real second instances (issue 15 item 3): one address has one owner,
 * whatever the timing; a duplicate address is refused before anything starts; a unix socket path
 * is removed only while it is still the socket sockrun created.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { FIXTURES, Sockrun, cleanup, exitOf, freePort, isAlive, request, sleep, spawnWithFd3 } from '../helpers/sockrun';

const hello = path.join(FIXTURES, 'hello.js');
const slowBoot = path.join(FIXTURES, 'slow-boot.js');
afterEach(cleanup);

const pidOf = (body: string) => Number(/(\d+)\s*$/.exec(body)![1]);

function expectOneLine(stderr: string, re: RegExp): void {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(re);
}

async function answeredBy(target: { port?: number; host?: string; socketPath?: string }, n: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < n; i++) pids.add(pidOf((await request(target, '/')).body));
  return pids;
}

describe('one address, one owner', () => {
  test('a connection made while the app still boots waits in the backlog and is answered by a worker, never by the master', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, slowBoot], { env: { BOOT_DELAY_MS: '1500' } });
    await s.waitFor('starting');
    const sentAt = Date.now();
    const reply = await request({ port }, '/');
    const listening = await s.waitFor('worker listening');
    expect(Date.parse(String(listening.time))).toBeGreaterThan(sentAt);
    expect(reply.status).toBe(200);
    expect(pidOf(reply.body)).not.toBe(s.pid);
    expect(s.workerPids()).toContain(pidOf(reply.body));
  });

  test('a second instance started while the first one boots exits 4 with one line, and the first one serves', async () => {
    const port = await freePort();
    const first = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, slowBoot], { env: { BOOT_DELAY_MS: '2000' } });
    await first.waitFor('starting');
    // A faster app: before issue 15 its worker listened first and the first instance died (exit 8).
    const second = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, hello]);
    expect((await second.exited).code).toBe(ExitCode.PORT_BUSY);
    expectOneLine(second.stderr, new RegExp(`^sockrun: --listen 127\\.0\\.0\\.1:${port}: address already in use`));
    await first.ready();
    const pids = await answeredBy({ port }, 20);
    expect([...pids].every((p) => first.workerPids().includes(p))).toBe(true);
    expect(isAlive(first.pid)).toBe(true);
  });

  test('two instances started at the same instant: exactly one serves, the other exits 4 with one line', async () => {
    for (let round = 0; round < 3; round++) {
      const port = await freePort();
      const a = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, hello]);
      const b = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, hello]);
      const loser = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)]);
      const winner = loser === a ? b : a;
      expect((await loser.exited).code).toBe(ExitCode.PORT_BUSY);
      expectOneLine(loser.stderr, /address already in use/);
      await winner.ready();
      await sleep(300);
      expect(isAlive(winner.pid)).toBe(true);
      expect([...(await answeredBy({ port }, 5))].every((p) => winner.workerPids().includes(p))).toBe(true);
      winner.signal('SIGTERM');
      expect((await winner.exited).code).toBe(0);
    }
  });

  test('--listen localhost:PORT binds the name\'s first address, as listen(port, "localhost") does', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `localhost:${port}`, hello]);
    const starting = await s.waitFor('starting');
    await s.ready();
    const [described] = starting.sockets as string[];
    const host = /=\[?([^\]]*)\]?:\d+ /.exec(`${described} `)![1];
    expect(['127.0.0.1', '::1']).toContain(host);
    expect((await request({ host, port }, '/')).status).toBe(200);
  });
});

describe('a duplicate address is a usage error before anything starts', () => {
  test.each([
    [['8080', '8080'], /--listen 8080 is given twice/],
    [['8080', '127.0.0.1:8080'], /--listen 127\.0\.0\.1:8080 takes the same port as --listen 8080/],
    [['8080', 'localhost:8080'], /--listen localhost:8080 takes the same port as --listen 8080/],
    [['unix:/tmp/sockrun-dup-test.sock', 'unix:/tmp/sockrun-dup-test.sock'], /--listen unix:\/tmp\/sockrun-dup-test\.sock is given twice/],
  ])('--listen %j', async (listens, message) => {
    const s = new Sockrun([...listens.flatMap((l) => ['-l', l.replace('8080', String(port))]), hello]);
    expect((await s.exited).code).toBe(ExitCode.USAGE);
    expectOneLine(s.stderr, new RegExp(message.source.replace(/8080/g, String(port))));
    expect(s.stdout).not.toContain('"msg":"starting"');
  });
  let port = 0;
  beforeAll(async () => (port = await freePort()));

  test('--fd 3 --fd 3 (before issue 15: exit 8 from a worker)', async () => {
    const { code, stderr } = await exitOf(spawnWithFd3("s=socket.create_server(('127.0.0.1',0))", ['--fd', '3', '--fd', '3', hello]));
    expect(code).toBe(ExitCode.USAGE);
    expectOneLine(stderr, /--fd 3 is given twice/);
  });
});

describe('unix sockets: a path is removed only while it is sockrun\'s own', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-ports-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a second instance on the same path exits 4 and leaves the first one\'s socket in place', async () => {
    const sock = path.join(dir, 'app.sock');
    const first = new Sockrun(['-w', '1', '-l', `unix:${sock}`, slowBoot], { env: { BOOT_DELAY_MS: '1500' } });
    await first.waitFor('starting');
    const inode = fs.statSync(sock).ino;
    const second = new Sockrun(['-w', '1', '-l', `unix:${sock}`, hello]);
    expect((await second.exited).code).toBe(ExitCode.PORT_BUSY);
    expectOneLine(second.stderr, /--listen unix:.*app\.sock: address already in use/);
    expect(fs.statSync(sock).ino).toBe(inode);
    await first.ready();
    expect(first.workerPids()).toContain(pidOf((await request({ socketPath: sock }, '/')).body));
    first.signal('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
  });

  test('at exit the master leaves alone a path that is no longer its socket', async () => {
    const sock = path.join(dir, 'app.sock');
    const s = new Sockrun(['-w', '1', '-l', `unix:${sock}`, hello]);
    await s.ready();
    fs.renameSync(sock, `${sock}.moved`);
    fs.writeFileSync(sock, 'someone else\'s file\n');
    s.signal('SIGTERM');
    expect((await s.exited).code).toBe(0);
    expect(fs.readFileSync(sock, 'utf8')).toBe('someone else\'s file\n');
  });

  test('the socket a killed master left behind is replaced; a file that is not a socket is never touched', async () => {
    const sock = path.join(dir, 'app.sock');
    const crashed = new Sockrun(['-w', '1', '-l', `unix:${sock}`, hello]);
    await crashed.ready();
    crashed.signal('SIGKILL');
    await crashed.exited;
    expect(fs.lstatSync(sock).isSocket()).toBe(true);
    const next = new Sockrun(['-w', '1', '-l', `unix:${sock}`, hello]);
    await next.ready();
    expect(next.workerPids()).toContain(pidOf((await request({ socketPath: sock }, '/')).body));

    const file = path.join(dir, 'not-a-socket');
    fs.writeFileSync(file, 'data\n');
    const refused = new Sockrun(['-w', '1', '-l', `unix:${file}`, hello]);
    expect((await refused.exited).code).toBe(ExitCode.BIND_FAILED);
    expectOneLine(refused.stderr, /exists and is not a socket; not removing it/);
    expect(fs.readFileSync(file, 'utf8')).toBe('data\n');
  });
});
