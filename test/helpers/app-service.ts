/**
 * The shipped systemd/app.socket + app.service inside a systemd sandbox, as the system tests
 * run them: only paths, the port and timeouts changed, so the hardening and lifecycle settings
 * stay as users get them. Clients (test/fixtures/systemd/load.js) run inside the sandbox.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SystemdSandbox } from './systemd-sandbox';

const REPO = resolve(__dirname, '../..');
const LOAD = join(REPO, 'test/fixtures/systemd/load.js');
const NODE = process.execPath;

export interface UnitOptions {
  port: number;
  /** The sockrun entry point (default: this checkout's bin/sockrun.js). */
  bin?: string;
  /** `sockrun` options and the app, for ExecStart=. */
  args: string;
  watchdogSec: number;
  /** Replaces `EnvironmentFile=` (e.g. `Environment=…`); '' drops it. */
  environment: string;
  /** Extra [Service] lines, e.g. hiding a path from the service. */
  extra?: string[];
}

/** app.socket and app.service as shipped, with test paths. */
export function shippedUnits(o: UnitOptions): { socket: string; service: string } {
  const bin = o.bin ?? join(REPO, 'bin/sockrun.js');
  const socket = readFileSync(join(REPO, 'systemd/app.socket'), 'utf8')
    .replace(/^ListenStream=.*$/m, `ListenStream=127.0.0.1:${o.port}`);
  const service = readFileSync(join(REPO, 'systemd/app.service'), 'utf8')
    .replace(/^ExecStart=.*$/m, `ExecStart=${NODE} ${bin} ${o.args}`)
    .replace(/^ExecReload=.*$/m, `ExecReload=${NODE} ${bin} reload --pid $MAINPID`)
    // DynamicUser= implies PrivateTmp=: a checkout under /tmp (CI clones anywhere) must be bound in.
    .replace(/^WorkingDirectory=.*$/m, [`WorkingDirectory=${REPO}`, `BindReadOnlyPaths=${REPO}`, ...(o.extra ?? [])].join('\n'))
    .replace(/^WatchdogSec=.*$/m, `WatchdogSec=${o.watchdogSec}`)
    .replace(/^TimeoutStopSec=.*$/m, 'TimeoutStopSec=30')
    .replace(/^TimeoutStartSec=.*$/m, 'TimeoutStartSec=20')
    .replace(/^EnvironmentFile=.*$/m, o.environment);
  return { socket, service };
}

export interface LoadResult {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  statuses: Record<string, number>;
  pids: Record<string, number>;
  generations: Record<string, number>;
  ms: number;
}

/** app.service in a booted sandbox, seen from inside it. */
export class AppService {
  constructor(readonly sd: SystemdSandbox, private readonly port: number) {}

  /** Boots a sandbox named `name`, installs the units and starts app.socket. */
  static async boot(name: string, units: UnitOptions): Promise<AppService> {
    const sd = await SystemdSandbox.boot(name);
    console.log(`systemd sandbox booted in ${sd.bootMs} ms`);
    const { socket, service } = shippedUnits(units);
    sd.writeUnit('app.socket', socket);
    sd.writeUnit('app.service', service);
    await sd.daemonReload();
    await sd.systemctl(['start', 'app.socket']);
    return new AppService(sd, units.port);
  }

  /** Prints the journal's tail (lines cut at `width`), then powers the sandbox off. */
  async down(lines: number, width: number): Promise<void> {
    console.log(`journal (tail):\n${(await this.sd.journal('app.service', lines)).split('\n').map((l) => l.slice(0, width)).join('\n')}`);
    console.log(`systemd sandbox down in ${await this.sd.down()} ms`);
  }

  /** Runs the load generator inside the sandbox and resolves with its accounting. */
  async load(mode: string, arg: number, path = ''): Promise<LoadResult> {
    const { stdout } = await this.sd.exec([NODE, LOAD, `http://127.0.0.1:${this.port}/${path}`, mode, String(arg)], { timeoutMs: 90_000 });
    return JSON.parse(stdout.trim().split('\n').pop()!);
  }

  /**
   * Worker pids: the master's children that run sockrun's worker preload. Not every child: without
   * unix-dgram the master also runs systemd-notify for a moment now and then.
   */
  async workerPids(masterPid: string): Promise<number[]> {
    const { stdout } = await this.sd.exec(['ps', '-o', 'pid=,args=', '--ppid', masterPid], { allowFailure: true });
    return stdout.split('\n').filter((l) => l.includes('/worker/preload.js')).map((l) => Number(l.trim().split(/\s+/)[0])).filter(Boolean);
  }

  show(...properties: string[]): Promise<Record<string, string>> {
    return this.sd.show('app.service', properties);
  }

  /**
   * Waits two watchdog periods and reports what systemd saw: the unit before and after, and
   * how long ago (µs, on the sandbox's CLOCK_MONOTONIC) its last WATCHDOG=1 arrived.
   */
  async watchdogPeriods(watchdogSec: number): Promise<{ before: Record<string, string>; after: Record<string, string>; sinceLastPingUsec: number }> {
    const before = await this.show('MainPID', 'ExecMainStartTimestampMonotonic');
    await new Promise((r) => setTimeout(r, watchdogSec * 1000 * 2));
    const after = await this.show('ActiveState', 'MainPID', 'NRestarts', 'WatchdogTimestampMonotonic');
    const { stdout } = await this.sd.exec(['cat', '/proc/uptime']);
    const nowUsec = Math.round(Number(stdout.split(' ')[0]) * 1e6);
    return { before, after, sinceLastPingUsec: nowUsec - Number(after.WatchdogTimestampMonotonic) };
  }

  waitActive(): Promise<Record<string, string>> {
    return this.sd.waitForShow('app.service', ['ActiveState', 'SubState', 'MainPID', 'StatusText'], (s) => s.ActiveState === 'active' && s.SubState === 'running', 30_000);
  }
}
