import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ts from 'typescript';
import { createNotifier, monotonicUsec, type NotifyLog } from '../../src/systemd/notify';
import { planWatchdog, watchdogIntervalMs } from '../../src/systemd/watchdog';

/** A pino-like logger that records what the notifier says. */
function recordingLog(): NotifyLog & { warns: string[]; debugs: string[] } {
  const warns: string[] = [];
  const debugs: string[] = [];
  return { warns, debugs, warn: (_o, m) => void warns.push(m), debug: (_o, m) => void debugs.push(m) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hasPython = spawnSync('python3', ['-c', 'import socket'], { stdio: 'ignore' }).status === 0;
const hasSystemdNotify = spawnSync('systemd-notify', ['--help'], { stdio: 'ignore' }).status === 0;
const isLinux = process.platform === 'linux';

/**
 * A receiver that is not sockrun's own code: python's AF_UNIX SOCK_DGRAM socket bound with the
 * exact address length, as systemd binds its notify socket. It prints one JSON line per
 * datagram with the sender pid from SCM_CREDENTIALS (what systemd checks for NotifyAccess=main).
 */
const PY_RECEIVER = `
import json, os, socket, struct, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print(json.dumps({'bound': True}), flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
    pid = [struct.unpack('iII', d[:12])[0] for (lvl, t, d) in anc if t == socket.SCM_CREDENTIALS]
    print(json.dumps({'msg': msg.decode(), 'pid': pid[0] if pid else None}), flush=True)
`;

interface Datagram { msg: string; pid: number | null }

class PythonReceiver {
  readonly got: Datagram[] = [];
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}
  static async start(address: string): Promise<PythonReceiver> {
    const child = spawn('python3', ['-c', PY_RECEIVER, address]);
    const receiver = new PythonReceiver(child);
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`python receiver exited ${code}`)));
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = JSON.parse(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
          if (line.bound) resolve();
          else receiver.got.push(line);
        }
      });
    });
    return receiver;
  }
  async waitFor(n: number, ms = 3000): Promise<Datagram[]> {
    const end = Date.now() + ms;
    while (this.got.length < n && Date.now() < end) await sleep(10);
    return this.got;
  }
  stop(): void {
    this.child.kill('SIGKILL');
  }
}

/** unix-dgram as the receiver, bound to a filesystem path. */
class NodeReceiver {
  readonly got: string[] = [];
  private readonly socket: { bind(p: string): void; close(): void };
  constructor(path: string) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const unix = require('unix-dgram');
    this.socket = unix.createSocket('unix_dgram', (buf: Buffer) => void this.got.push(buf.toString()));
    this.socket.bind(path);
  }
  async waitFor(n: number, ms = 3000): Promise<string[]> {
    const end = Date.now() + ms;
    while (this.got.length < n && Date.now() < end) await sleep(10);
    return this.got;
  }
  close(): void {
    this.socket.close();
  }
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sockrun-notify-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('outside systemd', () => {
  test('without NOTIFY_SOCKET every call is a silent no-op', () => {
    const log = recordingLog();
    const n = createNotifier({ WATCHDOG_USEC: '1000000' }, log);
    expect(n.enabled).toBe(false);
    n.ready('ready');
    n.reloading();
    n.status('x');
    n.stopping('draining');
    n.extendTimeout(1e6);
    n.startWatchdog(() => true);
    n.close();
    expect(log.warns).toEqual([]);
  });

  test('an address that is neither /path nor @name disables notify with one warning', () => {
    const log = recordingLog();
    const n = createNotifier({ NOTIFY_SOCKET: 'vsock:2:1234' }, log);
    expect(n.enabled).toBe(false);
    n.ready('x');
    expect(log.warns).toHaveLength(1);
    expect(log.warns[0]).toMatch(/sd_notify is off/);
  });

  test('with neither the native module nor systemd-notify, notify is off with one warning that says why in full', () => {
    const log = recordingLog();
    jest.isolateModules(() => {
      jest.doMock('unix-dgram', () => {
        throw new Error("Cannot find module 'unix-dgram'\nRequire stack:\n- /srv/app/node_modules/sockrun/dist/systemd/transport.js");
      });
      // No systemd-notify anywhere (a container image without systemd).
      jest.doMock('node:fs', () => ({ ...jest.requireActual('node:fs'), accessSync: () => { throw new Error('ENOENT'); } }));
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const isolated = require('../../src/systemd/notify') as typeof import('../../src/systemd/notify');
      const n = isolated.createNotifier({ NOTIFY_SOCKET: join(dir, 'none.sock') }, log);
      expect(n.enabled).toBe(false);
      n.ready('x');
      n.startWatchdog(() => true);
      n.close();
    });
    jest.dontMock('unix-dgram');
    jest.dontMock('node:fs');
    expect(log.warns).toEqual(['sd_notify is off: systemd will not hear READY/STATUS/WATCHDOG from sockrun, because the optional dependency unix-dgram is not installed or failed to load '
      + "(Cannot find module 'unix-dgram' Require stack: - /srv/app/node_modules/sockrun/dist/systemd/transport.js); and no systemd-notify binary to fall back on"]);
  });
});

/** src/systemd/*.ts as plain JS in `out`, so that another Node binary can load it. */
function compileNotifyModule(out: string): string {
  mkdirSync(out, { recursive: true });
  for (const file of ['notify', 'transport', 'watchdog']) {
    const source = readFileSync(join(__dirname, '../../src/systemd', `${file}.ts`), 'utf8');
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } });
    writeFileSync(join(out, `${file}.js`), js.outputText);
  }
  return join(out, 'notify.js');
}

/**
 * A Node binary of another ABI than this one (CI machines keep the distribution's Node beside
 * the line under test; SOCKRUN_OTHER_NODE names one explicitly): loading our node_modules'
 * unix-dgram there fails exactly as after a Node upgrade without `npm rebuild`.
 */
function otherAbiNode(): string | undefined {
  for (const candidate of [process.env.SOCKRUN_OTHER_NODE, '/usr/bin/node', '/usr/local/bin/node']) {
    if (!candidate || candidate === process.execPath) continue;
    const r = spawnSync(candidate, ['-p', 'process.versions.modules'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() !== process.versions.modules) return candidate;
  }
  return undefined;
}

describe('without a usable native module: the systemd-notify fallback', () => {
  const otherNode = otherAbiNode();
  const ready = isLinux && hasPython && hasSystemdNotify;
  if (!ready || !otherNode) {
    console.warn(`SKIPPED systemd-notify fallback tests: need Linux, python3, systemd-notify and a Node of another ABI (python3=${hasPython} systemd-notify=${hasSystemdNotify} other node=${otherNode})`);
  }
  const it = ready && otherNode ? test : test.skip;

  it('unix-dgram built for another Node ABI: READY, RELOADING and STATUS still arrive, in order, and the warning says why in full', async () => {
    const module = compileNotifyModule(join(dir, 'compiled-abi'));
    const path = join(dir, 'fallback.sock');
    const receiver = await PythonReceiver.start(path);
    const script = `
      const { createNotifier } = require(${JSON.stringify(module)});
      const n = createNotifier(process.env, { warn: (o, m) => console.error(JSON.stringify({ ...o, msg: m })), debug() {} });
      if (!n.enabled) process.exit(3);
      n.ready('one');
      n.status('two');
      n.status('three'); // still queued behind 'two'? then it replaces it (only the latest state matters)
      n.reloading();
      n.ready('four');
      n.stopping('bye');
      n.close();
    `;
    try {
      const child = spawnSync(otherNode!, ['-e', script], {
        env: { NOTIFY_SOCKET: path, NODE_PATH: join(__dirname, '../../node_modules'), PATH: process.env.PATH },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(child.status).toBe(0);
      const warning = JSON.parse(child.stderr.trim().split('\n').pop()!) as { msg: string; via: string };
      expect(warning.via).toBe('systemd-notify');
      // The reason spans several lines in Node's error; all of it is there, on one line.
      expect(warning.msg).toMatch(/^sd_notify goes through systemd-notify, one process per message, because the optional dependency unix-dgram is not installed or failed to load \(.*NODE_MODULE_VERSION \d+\. This version of Node\.js requires NODE_MODULE_VERSION \d+\..*\)\. The unit needs NotifyAccess=all/);
      expect(warning.msg).not.toMatch(/\n/);
      const got = (await receiver.waitFor(7, 10_000)).filter((d) => d.msg !== 'BARRIER=1');
      const messages = got.map((d) => d.msg.split('\n').filter((l) => !l.startsWith('MAINPID=')).join('\n'));
      expect(messages[0]).toBe('READY=1\nSTATUS=one');
      expect(messages.slice(1, -3)).toEqual(expect.arrayContaining(['STATUS=three']));
      expect(messages.slice(-3)).toEqual([expect.stringMatching(/^RELOADING=1\nMONOTONIC_USEC=\d+$/), 'READY=1\nSTATUS=four', 'STOPPING=1\nSTATUS=bye']);
      // systemd-notify --pid: MAINPID= names the master, whoever sent the datagram.
      expect(got.every((d) => d.msg.includes(`MAINPID=${child.pid}`))).toBe(true);
    } finally {
      receiver.stop();
    }
  });
});

describe('sd_notify to a filesystem path', () => {
  test('a unix-dgram receiver gets exactly the expected datagrams, in order', async () => {
    const path = join(dir, 'notify-node.sock');
    const receiver = new NodeReceiver(path);
    const n = createNotifier({ NOTIFY_SOCKET: path }, recordingLog());
    try {
      expect(n.enabled).toBe(true);
      n.ready('ready: 2/2 workers, generation 1');
      n.status('ready: 2/2 workers, generation 1'); // same as the READY status: not re-sent
      n.status('ready: 2/2 workers, generation 1, 3 connections');
      n.status('ready: 2/2 workers, generation 1, 3 connections');
      const before = monotonicUsec();
      n.reloading();
      const after = monotonicUsec();
      n.status('reloading:\n1/2 replaced');
      n.ready('ready: 2/2 workers, generation 2');
      n.stopping('draining: 2 workers');
      n.extendTimeout(5_000_000.4);
      const got = await receiver.waitFor(7);
      await sleep(50); // nothing more arrives
      expect(receiver.got).toHaveLength(7);
      expect(got[0]).toBe('READY=1\nSTATUS=ready: 2/2 workers, generation 1');
      expect(got[1]).toBe('STATUS=ready: 2/2 workers, generation 1, 3 connections');
      const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(got[2]);
      expect(m).not.toBeNull();
      expect(BigInt(m![1])).toBeGreaterThanOrEqual(before);
      expect(BigInt(m![1])).toBeLessThanOrEqual(after);
      expect(got[3]).toBe('STATUS=reloading: 1/2 replaced');
      expect(got[4]).toBe('READY=1\nSTATUS=ready: 2/2 workers, generation 2');
      expect(got[5]).toBe('STOPPING=1\nSTATUS=draining: 2 workers');
      expect(got[6]).toBe('EXTEND_TIMEOUT_USEC=5000001');
    } finally {
      n.close();
      receiver.close();
    }
  });

  (hasPython ? test : test.skip)('a python receiver sees our pid in SCM_CREDENTIALS (what NotifyAccess=main checks)', async () => {
    const path = join(dir, 'notify-py.sock');
    const receiver = await PythonReceiver.start(path);
    const n = createNotifier({ NOTIFY_SOCKET: path }, recordingLog());
    try {
      n.ready('up');
      const got = await receiver.waitFor(1);
      expect(got).toEqual([{ msg: 'READY=1\nSTATUS=up', pid: process.pid }]);
    } finally {
      n.close();
      receiver.stop();
    }
  });

  test('a vanished receiver costs one warning, never an exception', async () => {
    const log = recordingLog();
    const n = createNotifier({ NOTIFY_SOCKET: join(dir, 'gone.sock') }, log);
    expect(() => {
      n.ready('a');
      n.status('b');
      n.status('c');
    }).not.toThrow();
    await sleep(50);
    expect(log.warns).toHaveLength(1);
    expect(log.warns[0]).toMatch(/sd_notify send failed/);
    n.close();
  });
});

describe('sd_notify to an abstract @address', () => {
  if (!isLinux || !hasPython || !hasSystemdNotify) {
    console.warn(`SKIPPED abstract NOTIFY_SOCKET tests: need Linux, python3 and systemd-notify (linux=${isLinux} python3=${hasPython} systemd-notify=${hasSystemdNotify})`);
  }
  const it = isLinux && hasPython && hasSystemdNotify ? test : test.skip;

  it('a receiver bound to the exact abstract name (as systemd binds) gets the datagrams, in order, from our pid', async () => {
    const address = `@sockrun-test-${process.pid}-${Date.now()}`;
    const receiver = await PythonReceiver.start(address);
    const n = createNotifier({ NOTIFY_SOCKET: address }, recordingLog());
    try {
      expect(n.enabled).toBe(true);
      n.ready('one');
      n.reloading();
      n.ready('two');
      n.stopping('bye');
      const got = await receiver.waitFor(4, 10_000);
      expect(got.map((d) => d.msg.split('\n').filter((l) => !l.startsWith('MAINPID=')).join('\n'))).toEqual([
        'READY=1\nSTATUS=one',
        expect.stringMatching(/^RELOADING=1\nMONOTONIC_USEC=\d+$/),
        'READY=1\nSTATUS=two',
        'STOPPING=1\nSTATUS=bye',
      ]);
      // As root, systemd-notify --pid puts our pid into SCM_CREDENTIALS; otherwise its own.
      if (process.getuid?.() === 0) expect(got.every((d) => d.pid === process.pid)).toBe(true);
    } finally {
      n.close();
      receiver.stop();
    }
  });

  it('unix-dgram itself cannot address an abstract name (why the fallback exists)', async () => {
    // If this starts failing, unix-dgram learnt abstract addresses: drop the systemd-notify fallback.
    const address = `@sockrun-canary-${process.pid}`;
    const receiver = await PythonReceiver.start(address);
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const s = require('unix-dgram').createSocket('unix_dgram');
      s.on('error', () => {});
      const err = await new Promise<Error | undefined>((resolve) => {
        try {
          s.send(Buffer.from('READY=1'), 0, 7, '\0' + address.slice(1), resolve);
        } catch (e) {
          resolve(e as Error);
        }
      });
      s.close();
      expect(err).toBeDefined();
      await sleep(50);
      expect(receiver.got).toEqual([]);
    } finally {
      receiver.stop();
    }
  });
});

describe('watchdog', () => {
  test('pings at half of WATCHDOG_USEC, in whole milliseconds', () => {
    expect(planWatchdog({ WATCHDOG_USEC: '20000000' }, 42)).toEqual({ enabled: true, timeoutUsec: 20_000_000, intervalMs: 10_000 });
    expect(planWatchdog({ WATCHDOG_USEC: '3000', WATCHDOG_PID: '42' }, 42)).toEqual({ enabled: true, timeoutUsec: 3000, intervalMs: 1 });
    expect(watchdogIntervalMs(1)).toBe(1);
    expect(watchdogIntervalMs(4_999)).toBe(2);
    expect(watchdogIntervalMs(10 ** 13)).toBe(2 ** 31 - 1);
  });

  test('is off without WATCHDOG_USEC, with garbage, or when WATCHDOG_PID names another process', () => {
    expect(planWatchdog({}, 42)).toEqual({ enabled: false, reason: 'no WATCHDOG_USEC' });
    expect(planWatchdog({ WATCHDOG_USEC: '0' }, 42)).toMatchObject({ enabled: false, reason: 'bad WATCHDOG_USEC' });
    expect(planWatchdog({ WATCHDOG_USEC: '1e6' }, 42)).toMatchObject({ enabled: false, reason: 'bad WATCHDOG_USEC' });
    expect(planWatchdog({ WATCHDOG_USEC: '1000000', WATCHDOG_PID: '43' }, 42)).toMatchObject({ enabled: false, reason: 'WATCHDOG_PID is another process' });
    expect(planWatchdog({ WATCHDOG_USEC: '1000000', WATCHDOG_PID: 'x' }, 42)).toMatchObject({ enabled: false, reason: 'bad WATCHDOG_PID' });
  });

  test('sends WATCHDOG=1 every WATCHDOG_USEC/2 while healthy, and nothing while not', async () => {
    const path = join(dir, 'watchdog.sock');
    const receiver = new NodeReceiver(path);
    let healthy = true;
    const n = createNotifier({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid) }, recordingLog());
    try {
      const t0 = Date.now();
      n.startWatchdog(() => healthy);
      // 100 ms timeout -> a ping every 50 ms. Waiting for a count, not counting in a fixed
      // window: a loaded CI machine (load 10 on 2 cores) delivered 3 in 530 ms.
      await receiver.waitFor(4, 5000);
      const elapsed = Date.now() - t0;
      const healthyPings = receiver.got.length;
      expect(receiver.got.every((m) => m === 'WATCHDOG=1')).toBe(true);
      expect(healthyPings).toBeGreaterThanOrEqual(4);
      expect(healthyPings).toBeLessThanOrEqual(Math.floor(elapsed / 50) + 1); // never more often than every 50 ms
      healthy = false;
      await sleep(80); // one in-flight datagram may still land
      const settled = receiver.got.length;
      await sleep(300);
      expect(receiver.got.length).toBe(settled);
    } finally {
      n.close();
      receiver.close();
    }
  });

  test('a WATCHDOG_PID of another process arms no watchdog', async () => {
    const path = join(dir, 'watchdog-pid.sock');
    const receiver = new NodeReceiver(path);
    const n = createNotifier({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '20000', WATCHDOG_PID: String(process.pid + 1) }, recordingLog());
    try {
      n.startWatchdog(() => true);
      await sleep(200);
      expect(receiver.got).toEqual([]);
    } finally {
      n.close();
      receiver.close();
    }
  });

  test('close() stops the pings', async () => {
    const path = join(dir, 'watchdog-close.sock');
    const receiver = new NodeReceiver(path);
    const n = createNotifier({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '20000' }, recordingLog());
    try {
      n.startWatchdog(() => true);
      await receiver.waitFor(2);
      n.close();
      await sleep(30);
      const settled = receiver.got.length;
      await sleep(100);
      expect(receiver.got.length).toBe(settled);
      expect(n.enabled).toBe(false);
    } finally {
      receiver.close();
    }
  });
});

describe('process lifetime', () => {
  test('an armed watchdog and finished sends never keep the process alive', async () => {
    const out = join(dir, 'compiled');
    compileNotifyModule(out);
    const path = join(dir, 'lifetime.sock');
    const receiver = new NodeReceiver(path);
    const script = `
      const { createNotifier } = require(${JSON.stringify(join(out, 'notify.js'))});
      const n = createNotifier(process.env, { warn: console.error, debug() {} });
      n.startWatchdog(() => true);
      n.ready('child ready');
      n.stopping('child done');
      // no close(): the process must still exit once the event loop is otherwise empty
    `;
    try {
      const t0 = Date.now();
      const child = spawn(process.execPath, ['-e', script], {
        env: { NOTIFY_SOCKET: path, WATCHDOG_USEC: '60000000', NODE_PATH: join(__dirname, '../../node_modules') },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      const code = await new Promise<number | null>((resolve) => {
        const guard = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.on('exit', (c) => (clearTimeout(guard), resolve(c)));
      });
      expect(code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(4000);
      expect(await receiver.waitFor(2)).toEqual(['READY=1\nSTATUS=child ready', 'STOPPING=1\nSTATUS=child done']);
    } finally {
      receiver.close();
    }
  });
});
