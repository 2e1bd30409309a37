/**
 * The master's handle of one worker process: how it was spawned, what stage it is in, the
 * last stats it pinged. The worker's own code is worker/runtime.ts; they share protocol.ts.
 */
import { ChildProcess, spawn } from 'node:child_process';
import path = require('node:path');
import type { Configuration } from '../config/resolve';
import { NodeArgs, workerNodeArgs } from '../config/node-args';
import { MasterMessage, WorkerEnv, WorkerStats } from '../protocol';
import type { WorkerStage } from './plan';
import { FIRST_GENERATION } from './generations';
import { RecycleLimits, jitterLimits } from './recycle';
import type { Release } from './release';
import { HeldSocket, socketInfo } from '../sockets/hold';

export type ExitReason = 'crash' | 'signal' | 'hang' | 'recycle' | 'reload' | 'shutdown' | 'boot_failure';
/** Why the master asked a worker to go. */
export type DrainReason = 'reload' | 'recycle' | 'shutdown' | 'hang' | 'boot_timeout' | 'stop'
  /** The app closed its servers: replaced like a crash. */
  | 'closed'
  /** Its generation's rollout was aborted or superseded before it booted. */
  | 'aborted';

export interface SpawnSpec {
  /** Physical paths of the generation's release (master/release.ts). */
  app: string;
  cwd: string;
  appArgs: string[];
  /** Master-side descriptors, in worker fd order (3, 4, …). */
  fds: number[];
  env: NodeJS.ProcessEnv;
  /** Node flags before sockrun's preload (config/node-args.ts). */
  execArgv: string[];
  /** The inspector port those flags give this worker, if any (so a later spawn picks another). */
  inspectorPort?: number;
}

const PRELOAD = path.join(__dirname, '..', 'worker', 'preload.js');

/** What a spawn takes from the master's settings (master/types.ts MasterOptions). */
export type SpawnSettings = Pick<Configuration, 'appArgs' | 'pingIntervalMs' | 'idleTimeoutMs' | 'gracefulTimeoutMs' | 'recycle'> & {
  sockets: HeldSocket[];
  nodeArgs?: NodeArgs;
  workerEnv?: NodeJS.ProcessEnv;
};

/** Sockets sit at fds 3… in every worker, in the master's order (systemd's layout). */
export function numberWorkerFds(sockets: HeldSocket[]): void {
  sockets.forEach((s, i) => (s.fd = 3 + i));
}

/** Spawns worker `id` of `generation` running `release`; its inspector port, if any, clear of `inspectorPorts`. */
export function startWorker(settings: SpawnSettings, id: number, generation: number, release: Release, inspectorPorts: (number | undefined)[]): WorkerHandle {
  return new WorkerHandle(id, generation, jitterLimits(settings.recycle), {
    app: release.app,
    cwd: release.cwd,
    appArgs: settings.appArgs,
    fds: settings.sockets.map((s) => s.handle.fd),
    env: workerEnvironment(settings, release),
    ...workerNodeArgs(settings.nodeArgs, inspectorPorts),
  });
}

/**
 * The first generation's `count` workers, spawned before the master's own code loads so that
 * they boot while it does (issue 16). The Master adopts them in the same tick: no event of
 * theirs can be missed, as none is delivered before the event loop turns. A spawn that throws
 * (spawn() does for ENOMEM, E2BIG, …) goes to `onError`; the master's first tick spawns the
 * missing ones, as after any failed spawn.
 */
export function startFirstWorkers(settings: SpawnSettings, count: number, release: Release, onError: (err: unknown, id: number) => void): WorkerHandle[] {
  numberWorkerFds(settings.sockets);
  const first: WorkerHandle[] = [];
  for (let id = 0; id < count; id++) {
    try {
      first.push(startWorker(settings, id, FIRST_GENERATION, release, first.map((w) => w.inspectorPort)));
    } catch (err) {
      onError(err, id);
    }
  }
  return first;
}

/**
 * Drains `workers` that have not exited (the master's queue aside: Master.abandon) and SIGKILLs
 * them after `graceMs`, or at once on `killNow()`; `exited` resolves once all of them exited.
 */
export function drainUntilExited(workers: WorkerHandle[], graceMs: number): { exited: Promise<void>; killNow(): void } {
  const waiting = workers.filter((w) => w.pid >= 0 && w.child.exitCode === null && w.child.signalCode === null);
  // ChildProcess.kill() signals nothing once the child was reaped: no reused pid is ever hit.
  const killNow = (): void => void waiting.forEach((w) => w.child.kill('SIGKILL'));
  const timer = setTimeout(killNow, graceMs);
  const exited = Promise.all(waiting.map((w) => new Promise<void>((resolve) => {
    w.child.once('exit', () => resolve());
    w.drain('stop');
  }))).then(() => clearTimeout(timer));
  return { exited, killNow };
}

/**
 * A worker's environment: the master's, without what systemd addressed to the master alone
 * (sd_listen_fds(3): variables unset before forking), plus the worker runtime's settings.
 */
export function workerEnvironment(
  options: Pick<SpawnSettings, 'sockets' | 'pingIntervalMs' | 'idleTimeoutMs' | 'gracefulTimeoutMs' | 'workerEnv'>,
  release: { cwd: string },
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.workerEnv };
  for (const k of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[k];
  env[WorkerEnv.SOCKETS] = JSON.stringify(options.sockets.map(socketInfo));
  env[WorkerEnv.PING_INTERVAL_MS] = String(options.pingIntervalMs);
  env[WorkerEnv.IDLE_TIMEOUT_MS] = String(options.idleTimeoutMs);
  env[WorkerEnv.GRACEFUL_TIMEOUT_MS] = String(options.gracefulTimeoutMs);
  env.PWD = release.cwd; // what a shell would set after cd-ing into the release
  return env;
}

export class WorkerHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly inspectorPort: number | undefined;
  stage: WorkerStage = 'SPAWNED';
  readonly spawnedAt = Date.now();
  /** When it listened on every socket (stage SETTLING from then). */
  listeningAt: number | undefined;
  /** When it had stayed alive for the settle period after listening (stage LISTENING: booted). */
  bootedAt: number | undefined;
  /** Its rollout checks (admin/rollout-gate.ts) are running. */
  gated = false;
  lastPingAt: number;
  stats: WorkerStats | undefined;
  drainReason: DrainReason | undefined;
  drainStartedAt: number | undefined;
  recycleDue: string | undefined;
  bootError: string | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null; reason: ExitReason } | undefined;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(
    /** Slot number, reused by replacements: bounded by the worker count (a metrics label). */
    readonly id: number,
    readonly generation: number,
    readonly limits: RecycleLimits,
    spec: SpawnSpec,
  ) {
    // Sockets sit at fds 3… in systemd's layout; the IPC channel comes right after them.
    // detached: a new session, so a terminal's Ctrl-C reaches only the master, which drains.
    // The workers still never outlive it: they exit when the IPC channel closes.
    this.child = spawn(process.execPath, [...spec.execArgv, '--require', PRELOAD, spec.app, ...spec.appArgs], {
      stdio: ['inherit', 'inherit', 'inherit', ...spec.fds, 'ipc'],
      env: {
        ...spec.env,
        [WorkerEnv.WORKER_ID]: String(id),
        [WorkerEnv.GENERATION]: String(generation),
      },
      cwd: spec.cwd,
      detached: true,
    });
    this.pid = this.child.pid ?? -1;
    this.inspectorPort = spec.inspectorPort;
    this.lastPingAt = this.spawnedAt;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  send(message: MasterMessage): void {
    if (this.child.connected) this.child.send(message, undefined, {}, () => {});
  }

  /** Asks the worker to drain: stop accepting, finish in-flight work, exit. */
  drain(reason: DrainReason): void {
    if (this.stage === 'DRAINING' || this.stage === 'EXITED') return;
    this.stage = 'DRAINING';
    this.drainReason = reason;
    this.drainStartedAt = Date.now();
    if (this.child.connected) this.send({ type: 'sockrun:drain' });
    else this.signal('SIGTERM');
  }

  /** Forceful: SIGTERM, then SIGKILL after `graceMs` (0 = SIGKILL now). */
  kill(reason: DrainReason, graceMs: number): void {
    if (!this.alive) return;
    if (this.stage !== 'DRAINING') {
      this.stage = 'DRAINING';
      this.drainReason = reason;
      this.drainStartedAt = Date.now();
    }
    if (graceMs <= 0) return this.signal('SIGKILL');
    this.signal('SIGTERM');
    this.killTimer ??= setTimeout(() => this.signal('SIGKILL'), graceMs).unref();
  }

  signal(sig: NodeJS.Signals): void {
    try {
      if (this.alive) process.kill(this.pid, sig);
    } catch {
      // Already gone: the exit event is on its way.
    }
  }

  /** Records the exit and classifies it for logs and metrics. */
  exited(code: number | null, signal: NodeJS.Signals | null): ExitReason {
    if (this.killTimer) clearTimeout(this.killTimer);
    const requested = this.drainReason;
    let reason: ExitReason;
    if (requested === 'shutdown' || requested === 'stop') reason = 'shutdown';
    else if (requested === 'hang') reason = 'hang';
    else if (requested === 'boot_timeout' || (this.bootedAt === undefined && requested === undefined)) reason = 'boot_failure';
    else if (requested === 'reload' || requested === 'recycle') reason = requested;
    // Drained because its rollout was aborted, but it failed on its own before listening.
    else if (requested === 'aborted') reason = this.listeningAt === undefined && code !== 0 ? 'boot_failure' : 'reload';
    else reason = signal ? 'signal' : 'crash';
    this.stage = 'EXITED';
    this.exit = { code, signal, reason };
    return reason;
  }
}
