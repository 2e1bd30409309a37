/**
 * The master's handle of one worker process: how it was spawned, what stage it is in, the
 * last stats it pinged. The worker's own code is worker/runtime.ts; they share protocol.ts.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { MasterMessage, WorkerEnv, WorkerStats } from '../protocol';
import type { WorkerStage } from './plan';
import type { RecycleLimits } from './recycle';

export type ExitReason = 'crash' | 'signal' | 'hang' | 'recycle' | 'reload' | 'shutdown' | 'boot_failure';
/** Why the master asked a worker to go. */
export type DrainReason = 'reload' | 'recycle' | 'shutdown' | 'hang' | 'boot_timeout' | 'stop';

export interface SpawnSpec {
  app: string;
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

export class WorkerHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly inspectorPort: number | undefined;
  stage: WorkerStage = 'SPAWNED';
  readonly spawnedAt = Date.now();
  listeningAt: number | undefined;
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
    else if (requested === 'boot_timeout' || this.listeningAt === undefined) reason = 'boot_failure';
    else if (requested === 'reload' || requested === 'recycle') reason = requested;
    else reason = signal ? 'signal' : 'crash';
    this.stage = 'EXITED';
    this.exit = { code, signal, reason };
    return reason;
  }
}
