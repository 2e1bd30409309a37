/**
 * Issue 12 items 4 and 5 with the real CLI: the processes and threads the app starts are the
 * app's, and listen() never exposes an explicitly addressed server — internal servers keep their
 * address and work with N workers, across a reload; what the rule cannot satisfy is a clear error.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { FIXTURES, Sockrun, cleanup, eventually, freePort, request, sleep, startLoad } from '../helpers/sockrun';

const fixture = (name: string) => path.join(FIXTURES, 'listen', name);
afterEach(cleanup);

/** The pids that answered `n` requests on a port or unix socket (bodies end with the pid). */
async function pidsOn(target: number | { socketPath: string }, n: number, must?: RegExp): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < n; i++) {
    const { body } = await request(typeof target === 'number' ? { port: target } : target);
    if (must) expect(body).toMatch(must);
    pids.add(Number(/(\d+)\s*$/.exec(body)![1]));
  }
  return pids;
}

describe('the app\'s own processes are the app\'s', () => {
  test('children the app forks or spawns listen on their own 127.0.0.1 ports, without sockrun\'s runtime, and send the app no sockrun message', async () => {
    const [port, forkPort, spawnPort] = [await freePort(), await freePort(), await freePort()];
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, fixture('family.js')], { env: { FORK_PORT: String(forkPort), SPAWN_PORT: String(spawnPort) } });
    await s.ready();
    await eventually(async () => JSON.parse((await request({ port })).body).fromChildren.length >= 2, 15_000, 'both children listening');
    // A child with the runtime would ping every second: give it the time to.
    await sleep(2500);
    const { fromChildren } = JSON.parse((await request({ port })).body) as { fromChildren: { type: string }[] };
    expect(fromChildren.map((m) => m.type)).toEqual(['child-listening', 'child-listening']);

    for (const childPort of [forkPort, spawnPort]) {
      const child = JSON.parse((await request({ port: childPort })).body) as { execArgv: string[]; env: string[]; runtime: boolean };
      expect(child.runtime).toBe(false);
      expect(child.execArgv.join(' ')).not.toMatch(/preload/);
      expect(child.env).not.toContain('SOCKRUN_SOCKETS');
      expect(child.env).not.toContain('SOCKRUN_PING_INTERVAL_MS');
    }
    expect(s.lines.filter((l) => /worker died|failed to boot/.test(l.msg))).toEqual([]);
  });

  test('an app that runs its own cluster: its cluster workers serve on $PORT without sockrun\'s runtime, send no pings, and sockrun says once what it cannot count', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, fixture('own-cluster.js')]);
    await s.ready();
    const [worker] = s.workerPids();
    const pids = await pidsOn(port, 40, /^cluster worker runtime=false \d+/);
    expect(pids.size).toBe(2);
    expect(pids.has(worker)).toBe(false);
    await sleep(2500);
    expect(s.stdout).not.toMatch(/cluster primary got sockrun:/);
    expect(s.stderr.match(/runs cluster workers of its own \(cluster\.fork\(\)\)/g)).toHaveLength(1);
  });
});

describe('listen() never exposes an explicitly addressed server', () => {
  test('a worker thread\'s debug server on 127.0.0.1:<port> answers there from every worker, and never on the public port', async () => {
    const [port, debugPort] = [await freePort(), await freePort()];
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, fixture('thread-debug.js')], { env: { DEBUG_PORT: String(debugPort), SECRET: 'hunter2' } });
    await s.ready();
    const workers = s.workerPids().sort();
    await eventually(() => request({ port: debugPort }).then(() => true, () => false), 10_000, 'the debug server');
    expect([...await pidsOn(debugPort, 80, /^debug secret=hunter2 \d+/)].sort()).toEqual(workers);
    expect([...await pidsOn(port, 80, /^public \d+/)].sort()).toEqual(workers);
    expect(s.lines.filter((l) => /worker died|failed to boot/.test(l.msg))).toEqual([]);
  });

  test('two workers each with an internal listen(port, \'127.0.0.1\') both serve it, through a reload under load with no failed request', async () => {
    const [port, internalPort] = [await freePort(), await freePort()];
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, fixture('internal.js')], { env: { INTERNAL_PORT: String(internalPort) } });
    await s.ready();
    const before = s.workerPids().sort();
    expect([...await pidsOn(internalPort, 60, /^internal gen 1 \d+/)].sort()).toEqual(before);
    expect([...await pidsOn(port, 20, /^public gen 1 \d+/)]).not.toHaveLength(0);

    const load = startLoad(internalPort, { concurrency: 4 });
    await sleep(500);
    s.signal('SIGHUP');
    await s.waitFor('reload complete', 30_000);
    await sleep(500);
    const r = await load.stop();
    expect(r.errors).toEqual({});
    expect(r.failed).toBe(0);
    const after = s.workerPids().sort();
    const answered = [...r.pids.keys()].map(Number);
    expect(answered.some((p) => before.includes(p))).toBe(true);
    expect(answered.some((p) => after.includes(p))).toBe(true);
    expect([...await pidsOn(internalPort, 60, /^internal gen 2 \d+/)].sort()).toEqual(after);
    // One socket, bound once by the master and handed to all four workers.
    expect(s.lines.filter((l) => l.msg === 'shared socket bound for an app server\'s own address')).toHaveLength(1);
  });

  test('an internal server on a unix path is shared by every worker; sockrun removes the file it created, and no other', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-listen-'));
    const socketPath = path.join(dir, 'debug.sock');
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, fixture('internal-unix.js')], { env: { SOCK_PATH: socketPath } });
    await s.ready();
    await eventually(() => request({ socketPath }).then(() => true, () => false), 10_000, 'the unix server');
    const workers = s.workerPids().sort();
    expect([...await pidsOn({ socketPath }, 80, /^unix \d+/)].sort()).toEqual(workers);
    s.signal('SIGTERM');
    expect((await s.exited).code).toBe(ExitCode.OK);
    expect(fs.existsSync(socketPath)).toBe(false);

    const notOurs = path.join(dir, 'not-a-socket');
    fs.writeFileSync(notOurs, 'keep me');
    const again = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, fixture('internal-unix.js')], { env: { SOCK_PATH: notOurs } });
    await again.ready();
    await eventually(() => /internal server error: listen EADDRINUSE: address already in use/.test(again.stdout), 10_000, 'the error');
    again.signal('SIGTERM');
    await again.exited;
    expect(fs.readFileSync(notOurs, 'utf8')).toBe('keep me');
  });

  test('listen(process.env.PORT) maps by port: PORT is the first socket\'s', async () => {
    const [first, second] = [await freePort(), await freePort()];
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${first}`, '-l', `127.0.0.1:${second}`, fixture('env-port.js')], { env: { SECOND_PORT: String(second), PORT: '1' } });
    await s.ready();
    expect((await request({ port: first })).body).toMatch(/^by PORT \d+/);
    expect((await request({ port: second })).body).toMatch(/^second \d+/);
  });

  test.each([
    ['a worker thread listens on the public port', 'thread-public', /listen\(\d+\) in a worker thread would take the inherited socket .*never serves the public socket.*listen rule/],
    ['two servers on ports that are not the one socket\'s', 'two-ports', /listen\(9100\): the only inherited socket .* already went to the server that called listen\(3000\).*listen rule/],
    ['the public server listens on localhost', 'localhost', /did not listen within 5000 ms; it listens on its own address (127\.0\.0\.1|\[::1\]):\d+, which sockrun's listen rule never puts on an inherited socket/],
  ])('a listen() the rule cannot satisfy (%s) stops the boot with a clear error naming the rule', async (_what, which, message) => {
    const [port, localPort] = [await freePort(), await freePort()];
    const s = new Sockrun(['-w', '1', '--boot-timeout', '5s', '-l', `127.0.0.1:${port}`, fixture('unsatisfiable.js')], { env: { CASE: which, LOCAL_PORT: String(localPort) } });
    expect((await s.exited).code).toBe(ExitCode.BOOT_FAILED);
    const fatal = s.lines.find((l) => l.msg === 'no worker of the first generation could boot; exiting');
    expect(String(fatal?.error)).toMatch(message);
  });
});
