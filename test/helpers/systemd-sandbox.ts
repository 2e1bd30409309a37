/**
 * A real systemd for system tests: boots systemd as PID 1 of private namespaces (see
 * systemd-sandbox.sh beside this file), lets a test write units, run systemctl and clients
 * inside, and powers it off again. One sandbox per test file; names must be unique so jest
 * workers running in parallel never share a cgroup.
 *
 * Where systemd cannot be booted (not Linux, not root, no systemd or util-linux), tests skip
 * with a loud warning; under CI=true they fail instead, because CI must run them.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(__dirname, 'systemd-sandbox.sh');
const REPO_ROOT = join(__dirname, '..', '..');
const CGROUP2_MAGIC = 0x63677270;

/** Whether this machine can boot the sandbox, and if not, why. */
export function sandboxSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `platform is ${process.platform}, not linux` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not running as root (booting systemd in namespaces needs it)' };
  for (const tool of ['/usr/lib/systemd/systemd', '/usr/bin/unshare', '/usr/bin/nsenter', '/usr/bin/setpriv']) {
    if (!existsSync(tool)) return { ok: false, reason: `${tool} is missing (apt-get install systemd util-linux)` };
  }
  const cgroup2 = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'].some((p) => {
    try {
      return statfsSync(p).type === CGROUP2_MAGIC;
    } catch {
      return false;
    }
  });
  if (!cgroup2) return { ok: false, reason: 'no cgroup2 hierarchy mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified' };
  return { ok: true };
}

/**
 * `describe` when a sandbox can boot. Otherwise: outside CI, `describe.skip` after a loud
 * console.warn; in CI (CI=true), a describe whose single test fails with the reason.
 */
export function describeWithSystemd(title: string, body: () => void): void {
  const support = sandboxSupport();
  if (support.ok) return describe(title, body);
  const message = `SYSTEM TESTS NOT RUN — "${title}": cannot boot a real systemd here: ${support.reason}`;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    describe(title, () => test('can boot a real systemd (required in CI)', () => {
      throw new Error(message);
    }));
    return;
  }
  console.warn(`\n${'!'.repeat(100)}\n${message}\n${'!'.repeat(100)}\n`);
  describe.skip(title, body);
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number;
  /** Resolve instead of rejecting on a non-zero exit. */
  allowFailure?: boolean;
  env?: Record<string, string>;
}

/** A booted systemd. Create with `SystemdSandbox.boot(name)`; always `down()` in afterAll. */
export class SystemdSandbox {
  /** Milliseconds from `up` to `systemctl is-system-running --wait` answering. */
  bootMs = 0;
  private downed = false;

  private constructor(readonly name: string, readonly dir: string, readonly pid: number) {}

  /** The directory that is /etc/systemd/system inside. */
  get unitsDir(): string {
    return join(this.dir, 'units');
  }

  /** A writable directory visible at the same path inside and outside. */
  get stateDir(): string {
    return join(this.dir, 'state');
  }

  /** Boots systemd (~0.2–0.7 s). `name` must be unique among concurrently running sandboxes. */
  static async boot(name: string): Promise<SystemdSandbox> {
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(name)) throw new Error(`sandbox name "${name}" must be [A-Za-z0-9_-]{1,40}`);
    const dir = mkdtempSync(join(tmpdir(), `sockrun-sd-${name}-`));
    const t0 = Date.now();
    // The repository must be visible inside at its own path even when it lives under /tmp,
    // which the sandbox replaces with a private tmpfs (CI clones wherever it likes).
    const env = { ...process.env, SD: dir, NAME: name, RO_BINDS: REPO_ROOT } as Record<string, string>;
    const up = await run('bash', [SCRIPT, 'up'], { env, timeoutMs: 90_000, allowFailure: true });
    if (up.code !== 0) {
      // Whatever got half-started must not outlive us.
      await run('bash', [SCRIPT, 'down'], { env, timeoutMs: 30_000, allowFailure: true });
      throw new Error(`systemd sandbox ${name} failed to boot (exit ${up.code}):\n${up.stderr}`);
    }
    const sandbox = new SystemdSandbox(name, dir, Number(up.stdout.trim().split('\n').pop()));
    sandbox.bootMs = Date.now() - t0;
    return sandbox;
  }

  /** Writes a unit file into /etc/systemd/system (call daemonReload() afterwards). */
  writeUnit(fileName: string, text: string): void {
    writeFileSync(join(this.unitsDir, fileName), text.replace(/^\s+/gm, (m) => m.replace(/[ \t]+/g, '')).trimStart());
  }

  /** Runs a command inside every namespace of the sandbox (as root, cwd /). */
  /**
   * `kill -SIG pid` inside the sandbox, refusing anything but a positive pid: a unit that failed
   * to start reports MainPID=0, and `kill 0` would signal the caller's whole process group —
   * jest and the CI shell around it.
   */
  signal(pid: string | number, signal: string): Promise<ExecResult> {
    const n = Number(pid);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`refusing to send SIG${signal} to pid "${pid}" (not a running process)`);
    return this.exec(['kill', `-${signal}`, String(n)]);
  }

  exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.assertUp();
    const envArgs = options.env ? ['env', ...Object.entries(options.env).map(([k, v]) => `${k}=${v}`)] : [];
    return run('nsenter', ['-t', String(this.pid), '-a', '--', ...envArgs, ...argv], { ...options, env: undefined });
  }

  /** Starts a long-running command inside (a load generator); the caller waits for its exit. */
  spawn(argv: string[]): ChildProcess {
    this.assertUp();
    return spawn('nsenter', ['-t', String(this.pid), '-a', '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** `systemctl ARGS…`; rejects on a non-zero exit unless allowFailure. */
  systemctl(args: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(['systemctl', '--no-pager', ...args], options);
  }

  async daemonReload(): Promise<void> {
    await this.systemctl(['daemon-reload']);
  }

  /** `systemctl show -p …` as an object. */
  async show(unit: string, properties: string[]): Promise<Record<string, string>> {
    const { stdout } = await this.systemctl(['show', unit, ...properties.flatMap((p) => ['-p', p])]);
    const out: Record<string, string> = {};
    for (const line of stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return out;
  }

  /** Polls `show` until `predicate` holds; rejects with the last value after `timeoutMs`. */
  async waitForShow(unit: string, properties: string[], predicate: (p: Record<string, string>) => boolean, timeoutMs = 15_000): Promise<Record<string, string>> {
    const end = Date.now() + timeoutMs;
    let last: Record<string, string> = {};
    while (Date.now() < end) {
      last = await this.show(unit, properties);
      if (predicate(last)) return last;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting on ${unit}: ${JSON.stringify(last)}`);
  }

  /** The unit's journal (short-precise), for assertions and for failure messages. */
  async journal(unit: string, lines = 200): Promise<string> {
    const { stdout } = await this.exec(['journalctl', '--no-pager', '-o', 'short-precise', '-n', String(lines), '-u', unit], { allowFailure: true });
    return stdout;
  }

  /** Powers off (SIGKILL fallback), removes the cgroup and the work dir. Idempotent. */
  async down(): Promise<number> {
    if (this.downed) return 0;
    this.downed = true;
    const t0 = Date.now();
    const res = await run('bash', [SCRIPT, 'down'], { env: { ...process.env, SD: this.dir, NAME: this.name } as Record<string, string>, timeoutMs: 60_000, allowFailure: true });
    if (res.code !== 0) throw new Error(`sandbox ${this.name} teardown failed: ${res.stderr}`);
    rmSync(this.dir, { recursive: true, force: true });
    return Date.now() - t0;
  }

  private assertUp(): void {
    if (this.downed) throw new Error(`sandbox ${this.name} is down`);
  }
}

function run(file: string, args: string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: options.timeoutMs ?? 30_000, maxBuffer: 32 << 20, env: options.env ? { ...process.env, ...options.env } : process.env, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      const result = { code, stdout: String(stdout), stderr: String(stderr) };
      if (err && !options.allowFailure) {
        reject(new Error(`${file} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${result.stderr}${result.stdout}`));
      } else resolve(result);
    });
  });
}

/** True when `cmd` can be run (used to skip loudly when a client tool is missing). */
export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
