/**
 * Node flags for workers, seen from inside the workers of the real CLI: --node-args (and its
 * environment and config-file forms), `sockrun app.ts` where Node strips types, and an
 * inspector port per worker from --inspect in --node-args or NODE_OPTIONS.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { FIXTURES, ROOT, Sockrun, cleanup, eventually, freePort, request } from '../helpers/sockrun';

const DIR = path.join(FIXTURES, 'node-args');
const FLAGS_APP = path.join(DIR, 'flags.js');
afterEach(cleanup);

interface WorkerView {
  pid: number;
  execArgv: string[];
  heapLimitMiB: number;
  sourceMaps: boolean;
  fromEnvFile: string | null;
  inspector: string | null;
}

/** What each worker says about itself, by pid, once `n` different workers answered. */
async function workerViews(port: number, n: number): Promise<Map<number, WorkerView>> {
  const views = new Map<number, WorkerView>();
  await eventually(async () => {
    const view = JSON.parse((await request({ port }, '/')).body) as WorkerView;
    views.set(view.pid, view);
    return views.size >= n;
  }, 20_000, `${n} workers to answer`);
  return views;
}

const inspectorPort = (v: WorkerView): number | undefined => (v.inspector ? Number(new URL(v.inspector).port) : undefined);

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** Whether 127.0.0.1:port can be bound right now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * An inspector base port with the `n` ports after it free, and the app port right above them,
 * so the app port cannot fall among the inspector ports.
 */
async function inspectorPorts(n: number): Promise<{ base: number; app: number }> {
  for (;;) {
    // Below Linux's ephemeral range (32768–60999): the ports a reload binds seconds later must not
    // be taken meanwhile as the source port of some parallel test's outgoing connection (CI saw
    // a new worker's inspector find its port in use, once, on Node 26).
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await Promise.all(Array.from({ length: n + 2 }, (_, i) => bindable(base + i)));
    if (free.every(Boolean)) return { base, app: base + n + 1 };
  }
}

function tempFile(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-node-args-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('--node-args', () => {
  test('every worker runs with the flags: a heap limit, source maps and an --env-file', async () => {
    const port = await freePort();
    const envFile = tempFile('.env', 'FROM_ENV_FILE=from-the-env-file\n');
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--node-args=--max-old-space-size=64 --enable-source-maps', `--node-args=--env-file=${envFile}`, FLAGS_APP]);
    await s.ready();
    const views = [...(await workerViews(port, 2)).values()];
    expect(views.map((v) => v.pid).sort()).toEqual(s.workerPids().sort());
    for (const v of views) {
      expect(v.execArgv.slice(0, 3)).toEqual(['--max-old-space-size=64', '--enable-source-maps', `--env-file=${envFile}`]);
      // Old space 64 MiB plus the young generation; without the flag V8 allows GiBs here.
      expect(v.heapLimitMiB).toBeLessThan(512);
      expect(v.sourceMaps).toBe(true);
      expect(v.fromEnvFile).toBe('from-the-env-file');
    }
  });

  test('SOCKRUN_NODE_ARGS sets them from the environment, and replacements get them too', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '1', '-l', `127.0.0.1:${port}`, FLAGS_APP], { env: { SOCKRUN_NODE_ARGS: '--max-old-space-size=64 --enable-source-maps' } });
    await s.ready();
    const [first] = (await workerViews(port, 1)).values();
    process.kill(first.pid, 'SIGKILL');
    await s.waitFor((l) => l.msg === 'worker listening' && l.workerPid !== first.pid);
    const [second] = (await workerViews(port, 1)).values();
    expect(second.pid).not.toBe(first.pid);
    expect(second).toMatchObject({ execArgv: expect.arrayContaining(['--max-old-space-size=64', '--enable-source-maps']), sourceMaps: true });
  });

  test('"node-args" in the --config file, and --import=tsx runs TypeScript that type stripping refuses (an enum)', async () => {
    const port = await freePort();
    const config = tempFile('sockrun.json', JSON.stringify({ nodeArgs: ['--import=tsx'], workers: 2, listen: [`127.0.0.1:${port}`] }));
    const s = new Sockrun(['--config', config, path.join(DIR, 'enum-app.ts')], { cwd: ROOT });
    await s.ready(30_000);
    const r = JSON.parse((await request({ port }, '/')).body) as { lang: string; pid: number };
    expect(r.lang).toBe('typescript-with-enum');
    expect(s.workerPids()).toContain(r.pid);
  });

  test('a word that is not a Node flag is a usage error before anything starts', async () => {
    const s = new Sockrun(['-l', '127.0.0.1:0', '--node-args=server.js', FLAGS_APP]);
    expect((await s.exited).code).toBe(ExitCode.USAGE);
    expect(s.stderr.trim()).toBe('sockrun: --node-args: "server.js" is not a Node option (give values with "=", e.g. --max-old-space-size=512)');
  });

  test('--node-args --inspect (a value that begins with "-", not attached) says to attach it', async () => {
    const s = new Sockrun(['-l', '127.0.0.1:0', '--node-args', '--inspect', FLAGS_APP]);
    expect((await s.exited).code).toBe(ExitCode.USAGE);
    expect(s.stderr.trim()).toBe('sockrun: --node-args needs a value; one that begins with "-" must be attached with "=" (--node-args="--inspect --enable-source-maps")');
  });
});

// Node strips erasable TypeScript by itself from 22.18 (unflagged), 24 and 26:
// process.features.typescript is then 'strip' (or 'transform').
const strips = Boolean((process.features as { typescript?: string | false }).typescript);
(strips ? describe : describe.skip)(`sockrun app.ts (Node ${process.version} strips types)`, () => {
  test('a TypeScript app runs as it is: no build step, no loader', async () => {
    const port = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, path.join(DIR, 'app.ts')]);
    await s.ready();
    const r = JSON.parse((await request({ port }, '/')).body) as { lang: string; pid: number };
    expect(r.lang).toBe('typescript');
    expect(s.workerPids()).toContain(r.pid);
  });
});

describe('an inspector port per worker', () => {
  test('--node-args=--inspect=BASE: workers listen on BASE+1 and BASE+2, as under Node cluster', async () => {
    const { base, app: port } = await inspectorPorts(4);
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, `--node-args=--inspect=${base}`, FLAGS_APP]);
    await s.ready();
    const views = [...(await workerViews(port, 2)).values()];
    expect(views.map(inspectorPort).sort()).toEqual([base + 1, base + 2]);
    for (const v of views) expect(await listening(inspectorPort(v)!)).toBe(true);
  });

  test('after a reload every new worker has its own inspector (the draining ones still hold theirs meanwhile)', async () => {
    const { base, app: port } = await inspectorPorts(6);
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, `--node-args=--inspect=${base}`, FLAGS_APP], { env: { DRAIN_LINGER_MS: '1500' } });
    await s.ready();
    const before = await workerViews(port, 2);
    s.signal('SIGHUP');
    await s.waitFor('reload complete');
    // Once the reload is complete only the new generation answers.
    const after = [...(await workerViews(port, 2)).values()];
    expect(after.map((v) => v.pid).sort()).toEqual(s.workerPids().sort());
    expect(after.some((v) => before.has(v.pid))).toBe(false);
    const ports = after.map(inspectorPort);
    expect(ports.every((p) => p !== undefined && p > base && p <= base + 4)).toBe(true);
    expect(new Set(ports).size).toBe(2);
    expect(s.stderr).not.toMatch(/address already in use/);
  });

  test('NODE_OPTIONS=--inspect=BASE (which the master takes too): the master keeps BASE, each worker gets its own port', async () => {
    const { base, app: port } = await inspectorPorts(3);
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, FLAGS_APP], { env: { NODE_OPTIONS: `--inspect=127.0.0.1:${base}` } });
    await s.ready();
    const views = [...(await workerViews(port, 2)).values()];
    expect(views.map(inspectorPort).sort()).toEqual([base + 1, base + 2]);
    expect(await listening(base)).toBe(true); // the master's own
    expect(s.stderr).not.toMatch(/address already in use/);
  });
});
