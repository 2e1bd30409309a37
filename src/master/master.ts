/**
 * The master: holds the listening sockets, supervises workers, never touches a request.
 *
 * Everything that happens — signals, control commands, worker messages and exits, timer
 * ticks — is an event pushed onto one queue; `run()` applies them in order, one at a time,
 * then `reconcile()` asks plan.ts what to spawn and drain. Signal handlers only enqueue
 * (gunicorn's arbiter), so a SIGHUP can never interleave with a SIGTERM drain.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Configuration } from '../config/resolve';
import { ExitCode } from '../errors';
import { SocketInfo, WorkerEnv, WorkerMessage, isWorkerMessage } from '../protocol';
import { HeldSocket, releaseSocket, socketInfo } from '../sockets/hold';
import { LifecycleEvent, MasterState, transition } from './lifecycle';
import { backoffMs, plan } from './plan';
import { jitterLimits, recycleReason } from './recycle';
import { DrainReason, ExitReason, WorkerHandle } from './worker-handle';

/** How often the supervision tick runs (hang, boot and drain deadlines, recycling by age). */
const TICK_MS = 250;
/** A hung or late worker gets SIGTERM, then SIGKILL this much later. */
const KILL_GRACE_MS = 1000;
/** Failures further apart than this do not count as a crash loop. */
const FAILURE_WINDOW_MS = 30_000;

/** The master's settings: resolved configuration, plus what run.ts worked out (sockets, worker count). */
export type MasterOptions = Pick<Configuration,
  'appArgs' | 'bootTimeoutMs' | 'drainDelayMs' | 'gracefulTimeoutMs' | 'hangTimeoutMs' | 'pingIntervalMs' | 'idleTimeoutMs' | 'recycle'> & {
  /** Absolute path of the app. */
  app: string;
  workers: number;
  sockets: HeldSocket[];
  /** Extra environment for workers (e.g. SOCKRUN_ECV_ON_APP_PORT). */
  workerEnv?: NodeJS.ProcessEnv;
  log: Logger;
  /**
   * Set when the caller caught SIGHUP/SIGTERM/SIGINT/SIGQUIT itself (cli/early-signals.ts): start()
   * hands it the function that enqueues them instead of installing handlers.
   */
  routeSignals?: (enqueue: (signal: NodeJS.Signals) => void) => void;
};

export type MasterEvent =
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'control'; command: 'reload' | 'shutdown' | 'stop'; reply?: (r: ControlResult) => void }
  | { kind: 'worker-message'; worker: WorkerHandle; message: WorkerMessage }
  | { kind: 'worker-exit'; worker: WorkerHandle; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'drain-delay-over' }
  | { kind: 'tick' };

export interface ControlResult {
  ok: boolean;
  message: string;
  generation?: number;
  durationMs?: number;
  /** Refused in this state (reload while STARTING or DRAINING): nothing changed, try again later. */
  notNow?: boolean;
}

export interface WorkerSnapshot {
  id: number;
  pid: number;
  generation: number;
  stage: string;
  uptimeMs: number;
  connectionsActive: number;
  connectionsTotal: number;
  requestsTotal: number;
  rssBytes: number;
  eventLoopLagMs: number;
}

export interface MasterSnapshot {
  pid: number;
  state: MasterState;
  generation: number;
  uptimeMs: number;
  workersTarget: number;
  /** Workers of the current generation that listen and are not draining. */
  workersReady: number;
  workers: WorkerSnapshot[];
  connectionsActive: number;
  /** Monotonic: exited workers' last counts are kept. */
  connectionsTotal: number;
  requestsTotal: number;
  sockets: SocketInfo[];
  /** The master's loop ran a tick within the last few intervals. */
  loopHealthy: boolean;
}

/**
 * Events for observers (metrics, systemd notify, admin, the cluster2 facade):
 * 'state' (to, from), 'spawn' (worker), 'listening' (worker), 'exit' (worker, reason),
 * 'recycle' (worker, reason), 'reload' ({ok, generation, durationMs, message}), 'signal' (name),
 * 'ping' (worker), 'message' (worker, message).
 */
export class Master extends EventEmitter {
  state: MasterState = 'STARTING';
  /** Bumped by every reload; new workers carry it. */
  generation = 1;
  private staleBefore = 0;
  private readonly workers = new Map<number, WorkerHandle>();
  private readonly queue: MasterEvent[] = [];
  private running = false;
  private readonly startedAt = Date.now();
  private lastTickAt = Date.now();
  private ticker: NodeJS.Timeout | undefined;
  private everListened = false;
  private failures = 0;
  private lastFailureAt = 0;
  private spawnNotBefore = 0;
  private reloadStartedAt = 0;
  private reloadWaiters: ((r: ControlResult) => void)[] = [];
  private drainDeadline: number | undefined;
  private forcedKill = false;
  private socketsReleased = false;
  private retired = { connections: 0, requests: 0 };
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  private finishResolve!: (code: number) => void;
  /** Resolves with the exit code once the master stopped (STOPPED and every worker reaped). */
  readonly finished = new Promise<number>((resolve) => (this.finishResolve = resolve));
  private exitCode: number = ExitCode.OK;

  constructor(readonly options: MasterOptions) {
    super();
    this.options.sockets.forEach((s, i) => (s.fd = 3 + i));
  }

  /** Spawns the first generation and starts handling signals. */
  start(): void {
    if (this.options.routeSignals) this.options.routeSignals((signal) => this.enqueue({ kind: 'signal', signal }));
    else for (const sig of ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGQUIT'] as NodeJS.Signals[]) {
      // NO work here: only enqueue (applied in order by run()).
      const handler = () => this.enqueue({ kind: 'signal', signal: sig });
      this.signalHandlers.set(sig, handler);
      process.on(sig, handler);
    }
    this.ticker = setInterval(() => this.enqueue({ kind: 'tick' }), TICK_MS);
    this.options.log.info({ state: this.state, workers: this.options.workers, sockets: this.options.sockets.map(describe) }, 'starting');
    this.enqueue({ kind: 'tick' });
  }

  enqueue(event: MasterEvent): void {
    this.queue.push(event);
    if (!this.running) {
      this.running = true;
      setImmediate(() => this.run());
    }
  }

  /** A control command (`sockrun reload|shutdown|stop`); reload resolves when the rollout ends. */
  control(command: 'reload' | 'shutdown' | 'stop'): Promise<ControlResult> {
    return new Promise((reply) => this.enqueue({ kind: 'control', command, reply }));
  }

  snapshot(): MasterSnapshot {
    const now = Date.now();
    const live = [...this.workers.values()].filter((w) => w.alive);
    const workers = live.map((w) => ({
      id: w.id,
      pid: w.pid,
      generation: w.generation,
      stage: w.stage,
      uptimeMs: now - w.spawnedAt,
      connectionsActive: w.stats?.connectionsActive ?? 0,
      connectionsTotal: w.stats?.connectionsTotal ?? 0,
      requestsTotal: w.stats?.requestsTotal ?? 0,
      rssBytes: w.stats?.rssBytes ?? 0,
      eventLoopLagMs: w.stats?.eventLoopLagMs ?? 0,
    }));
    const sum = (k: 'connectionsActive' | 'connectionsTotal' | 'requestsTotal') => workers.reduce((a, w) => a + w[k], 0);
    return {
      pid: process.pid,
      state: this.state,
      generation: this.generation,
      uptimeMs: now - this.startedAt,
      workersTarget: this.options.workers,
      workersReady: live.filter((w) => w.stage === 'LISTENING' && w.generation >= this.staleBefore).length,
      workers,
      connectionsActive: sum('connectionsActive'),
      connectionsTotal: this.retired.connections + sum('connectionsTotal'),
      requestsTotal: this.retired.requests + sum('requestsTotal'),
      sockets: this.options.sockets.map(socketInfo),
      loopHealthy: now - this.lastTickAt < TICK_MS * 8,
    };
  }

  /** Sends a message to every live worker (ECV state, notifications from the cluster2 facade). */
  broadcast(message: Parameters<WorkerHandle['send']>[0]): void {
    for (const w of this.workers.values()) if (w.alive) w.send(message);
  }

  liveWorkers(): WorkerHandle[] {
    return [...this.workers.values()].filter((w) => w.alive);
  }

  private run(): void {
    while (this.queue.length > 0) {
      const event = this.queue.shift()!;
      try {
        this.apply(event);
        if (this.state !== 'STOPPED' && this.state !== 'DRAINING') this.reconcile();
      } catch (err) {
        this.options.log.error({ err, event: event.kind }, 'internal error while handling an event');
      }
    }
    this.running = false;
  }

  private apply(event: MasterEvent): void {
    switch (event.kind) {
      case 'signal':
        return this.onSignal(event.signal);
      case 'control':
        return this.onControl(event.command, event.reply);
      case 'worker-message':
        return this.onWorkerMessage(event.worker, event.message);
      case 'worker-exit':
        return this.onWorkerExit(event.worker, event.code, event.signal);
      case 'drain-delay-over':
        return this.drainWorkers();
      case 'tick':
        return this.onTick();
    }
  }

  private onSignal(signal: NodeJS.Signals): void {
    this.options.log.info({ signal, state: this.state }, `received ${signal}`);
    this.emit('signal', signal);
    if (signal === 'SIGHUP') return this.onControl('reload');
    if (signal === 'SIGQUIT') return this.onControl('stop');
    // SIGTERM / SIGINT: drain; a second one while draining means stop now.
    return this.onControl(this.state === 'DRAINING' ? 'stop' : 'shutdown');
  }

  private onControl(command: 'reload' | 'shutdown' | 'stop', reply?: (r: ControlResult) => void): void {
    if (command === 'reload') return this.startReload(reply);
    if (command === 'shutdown') {
      if (this.state === 'DRAINING') return reply?.({ ok: true, message: 'already draining' });
      this.move('drain');
      reply?.({ ok: true, message: 'draining' });
      if (this.options.drainDelayMs > 0) {
        this.options.log.info({ drainDelayMs: this.options.drainDelayMs }, 'not ready; draining after the drain delay');
        setTimeout(() => this.enqueue({ kind: 'drain-delay-over' }), this.options.drainDelayMs).unref();
      } else {
        this.drainWorkers();
      }
      return;
    }
    this.move('stop');
    reply?.({ ok: true, message: 'stopping' });
    for (const w of this.liveWorkers()) w.kill('stop', 0);
    this.maybeFinish();
  }

  private startReload(reply?: (r: ControlResult) => void): void {
    if (this.state !== 'READY' && this.state !== 'RELOADING') {
      const message = `reload ignored while ${this.state}`;
      this.options.log.warn({ state: this.state }, message);
      reply?.({ ok: false, message, notNow: true });
      return;
    }
    if (reply) this.reloadWaiters.push(reply);
    if (this.state === 'READY') this.reloadStartedAt = Date.now();
    this.generation++;
    this.staleBefore = this.generation;
    this.move('reload');
    this.options.log.info({ generation: this.generation }, 'reload: rolling out a new generation');
  }

  private finishReload(ok: boolean, message: string): void {
    const durationMs = Date.now() - this.reloadStartedAt;
    this.move(ok ? 'reload-done' : 'reload-aborted');
    const result = { ok, message, generation: this.generation, durationMs };
    if (ok) this.options.log.info(result, 'reload complete');
    else this.options.log.error(result, 'reload aborted; the previous workers keep serving');
    this.emit('reload', result);
    for (const reply of this.reloadWaiters.splice(0)) reply(result);
  }

  private onWorkerMessage(w: WorkerHandle, m: WorkerMessage): void {
    switch (m.type) {
      case 'sockrun:listening':
        if (m.allListening && w.stage === 'SPAWNED') {
          w.stage = 'LISTENING';
          w.listeningAt = Date.now();
          w.lastPingAt = Date.now();
          this.everListened = true;
          this.options.log.info({ worker: w.id, workerPid: w.pid, generation: w.generation, bootMs: w.listeningAt - w.spawnedAt }, 'worker listening');
          this.emit('listening', w);
        }
        return;
      case 'sockrun:ping':
        w.stats = m.stats;
        w.lastPingAt = Date.now();
        this.emit('ping', w);
        return;
      case 'sockrun:boot-error':
        w.bootError = m.message;
        return;
      default:
        this.emit('message', w, m);
    }
  }

  private onWorkerExit(w: WorkerHandle, code: number | null, signal: NodeJS.Signals | null): void {
    if (!w.alive) return;
    const reason = w.exited(code, signal);
    this.retired.connections += w.stats?.connectionsTotal ?? 0;
    this.retired.requests += w.stats?.requestsTotal ?? 0;
    const expected = reason === 'reload' || reason === 'recycle' || reason === 'shutdown';
    const fields = { worker: w.id, workerPid: w.pid, generation: w.generation, code, signal, reason, error: w.bootError };
    if (expected) this.options.log.info(fields, 'worker exited');
    else this.options.log.warn(fields, reason === 'boot_failure' ? 'worker failed to boot' : 'worker died');
    this.emit('exit', w, reason);
    this.workers.delete(w.pid);

    if (this.state === 'DRAINING' || this.state === 'STOPPED') return this.maybeFinish();
    if (!expected) this.countFailure();
    if (reason !== 'boot_failure') return;
    const error = w.bootError ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
    if (this.state === 'STARTING' && !this.everListened) {
      this.options.log.fatal({ error }, 'no worker of the first generation could boot; exiting');
      this.exitCode = ExitCode.BOOT_FAILED;
      this.move('boot-failed');
      for (const other of this.liveWorkers()) other.kill('stop', 0);
      return this.maybeFinish();
    }
    if (this.state === 'RELOADING' && w.generation >= this.staleBefore) {
      this.staleBefore = 0; // nothing is stale any more: the old workers stay
      this.finishReload(false, `a worker of generation ${w.generation} failed to boot: ${error}`);
    }
  }

  private onTick(): void {
    const now = Date.now();
    this.lastTickAt = now;
    const { hangTimeoutMs, bootTimeoutMs, gracefulTimeoutMs } = this.options;
    for (const w of this.liveWorkers()) {
      if (w.stage === 'SPAWNED' && bootTimeoutMs > 0 && now - w.spawnedAt > bootTimeoutMs) {
        this.options.log.warn({ worker: w.id, workerPid: w.pid, bootTimeoutMs }, 'worker did not listen in time; killing it');
        w.bootError ??= `did not listen within ${bootTimeoutMs} ms`;
        w.kill('boot_timeout', KILL_GRACE_MS);
      } else if (w.stage === 'LISTENING' && hangTimeoutMs > 0 && now - w.lastPingAt > hangTimeoutMs) {
        this.options.log.warn({ worker: w.id, workerPid: w.pid, reason: 'hang', silentMs: now - w.lastPingAt }, 'worker event loop blocked; killing it');
        w.kill('hang', KILL_GRACE_MS);
      } else if (w.stage === 'LISTENING' && w.recycleDue === undefined && this.state !== 'DRAINING') {
        const reason = recycleReason(w.stats, now - w.spawnedAt, w.limits);
        if (reason) {
          w.recycleDue = reason;
          this.options.log.info({ worker: w.id, workerPid: w.pid, reason }, 'worker due for recycling');
          this.emit('recycle', w, reason);
        }
      } else if (w.stage === 'DRAINING' && w.drainStartedAt !== undefined && now - w.drainStartedAt > gracefulTimeoutMs) {
        this.options.log.warn({ worker: w.id, workerPid: w.pid, gracefulTimeoutMs }, 'worker still busy at the graceful timeout; killing it');
        if (this.state === 'DRAINING') this.forcedKill = true;
        w.kill(w.drainReason ?? 'shutdown', 0);
      }
    }
  }

  /** After every event: converge on the target fleet (plan.ts), and notice when a phase ends. */
  private reconcile(): void {
    const live = this.liveWorkers();
    const decision = plan({
      workers: live,
      target: this.options.workers,
      staleBefore: this.staleBefore,
      maySpawn: Date.now() >= this.spawnNotBefore,
    });
    for (const { id, reason } of decision.drain) {
      const w = live.find((x) => x.id === id)!;
      this.options.log.info({ worker: w.id, workerPid: w.pid, generation: w.generation, reason }, 'draining worker');
      w.drain(reason as DrainReason);
    }
    for (let i = 0; i < decision.spawn; i++) this.spawnWorker();

    const serving = this.liveWorkers().filter((w) => w.stage === 'SPAWNED' || w.stage === 'LISTENING');
    const allListening = serving.length >= this.options.workers && serving.every((w) => w.stage === 'LISTENING');
    if (this.state === 'STARTING' && allListening) {
      this.move('all-listening');
      this.options.log.info({ workers: serving.length, startupMs: Date.now() - this.startedAt }, 'ready');
    } else if (this.state === 'RELOADING' && allListening && this.liveWorkers().every((w) => w.generation >= this.staleBefore)) {
      // Done only when every old worker has exited, not just stopped accepting: `systemctl
      // reload` then returns when the rollout is really over.
      this.finishReload(true, `generation ${this.generation} serving`);
    }
  }

  private spawnWorker(): WorkerHandle {
    const { options } = this;
    const used = new Set(this.liveWorkers().filter((w) => w.stage !== 'DRAINING').map((w) => w.id));
    let id = 0;
    while (used.has(id)) id++;
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.workerEnv };
    for (const k of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[k];
    env[WorkerEnv.SOCKETS] = JSON.stringify(options.sockets.map(socketInfo));
    env[WorkerEnv.PING_INTERVAL_MS] = String(options.pingIntervalMs);
    env[WorkerEnv.IDLE_TIMEOUT_MS] = String(options.idleTimeoutMs);
    const w = new WorkerHandle(id, this.generation, jitterLimits(options.recycle), {
      app: options.app,
      appArgs: options.appArgs,
      fds: options.sockets.map((s) => s.handle.fd),
      env,
      execArgv: [],
    });
    this.workers.set(w.pid, w);
    w.child.on('message', (m: unknown) => {
      if (isWorkerMessage(m)) this.enqueue({ kind: 'worker-message', worker: w, message: m });
      else this.emit('message', w, m);
    });
    w.child.once('exit', (code, signal) => this.enqueue({ kind: 'worker-exit', worker: w, code, signal }));
    w.child.once('error', (err) => {
      options.log.error({ err, worker: id }, 'could not spawn worker');
      if (w.pid < 0) this.enqueue({ kind: 'worker-exit', worker: w, code: null, signal: null });
    });
    options.log.debug({ worker: id, workerPid: w.pid, generation: w.generation }, 'spawned worker');
    this.emit('spawn', w);
    return w;
  }

  private countFailure(): void {
    const now = Date.now();
    this.failures = now - this.lastFailureAt > FAILURE_WINDOW_MS ? 1 : this.failures + 1;
    this.lastFailureAt = now;
    const delay = backoffMs(this.failures);
    this.spawnNotBefore = now + delay;
    if (delay > 0) this.options.log.warn({ failures: this.failures, backoffMs: delay }, 'workers keep failing; backing off');
  }

  private drainWorkers(): void {
    if (this.state !== 'DRAINING' || this.drainDeadline !== undefined) return;
    this.drainDeadline = Date.now() + this.options.gracefulTimeoutMs;
    const live = this.liveWorkers();
    this.options.log.info({ workers: live.length, gracefulTimeoutMs: this.options.gracefulTimeoutMs }, 'draining workers');
    for (const w of live) w.drain('shutdown');
    // Nobody will accept on our sockets any more: let go of them now, so that new connections
    // are refused at once instead of waiting in a backlog that is reset at exit (measured: up to
    // ~750 ms of waiting, then a reset). Under systemd the socket stays open in systemd and
    // queues for the next start, as it should.
    this.releaseSockets();
    this.maybeFinish();
  }

  private releaseSockets(): void {
    if (this.socketsReleased) return;
    this.socketsReleased = true;
    for (const s of this.options.sockets) releaseSocket(s);
  }

  private maybeFinish(): void {
    if (this.liveWorkers().length > 0) return;
    if (this.state === 'DRAINING') {
      if (this.drainDeadline === undefined) return; // still in the drain delay
      if (this.forcedKill) this.exitCode = ExitCode.DRAIN_FORCED;
      this.move('drained');
    }
    if (this.state !== 'STOPPED') return;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const [sig, handler] of this.signalHandlers) process.removeListener(sig, handler);
    // A late signal (e.g. a second SIGTERM) must not kill us with the default action mid-cleanup.
    for (const sig of this.signalHandlers.keys()) process.on(sig, () => {});
    this.releaseSockets();
    for (const reply of this.reloadWaiters.splice(0)) reply({ ok: false, message: 'master stopped during the reload' });
    this.options.log.info({ exitCode: this.exitCode }, 'stopped');
    this.finishResolve(this.exitCode);
  }

  private move(event: LifecycleEvent): void {
    const from = this.state;
    const to = transition(from, event);
    if (to === undefined) {
      this.options.log.warn({ state: from, event }, 'event ignored in this state');
      return;
    }
    this.state = to;
    if (to !== from) {
      this.options.log.info({ from, to, event }, `state ${to}`);
      this.emit('state', to, from);
    }
  }
}

function describe(s: HeldSocket): string {
  return `${s.name}=${s.kind === 'unix' ? `unix:${s.path}` : `${s.host}:${s.port}`} (${s.source})`;
}

export type { ExitReason };
