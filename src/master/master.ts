/**
 * The master: holds the listening sockets, supervises workers, never touches a request.
 *
 * Everything that happens — signals, control commands, worker messages and exits, timer
 * ticks — is an event pushed onto one queue; `run()` applies them in order, one at a time,
 * then `reconcile()` asks plan.ts what to spawn and drain. Signal handlers only enqueue
 * (gunicorn's arbiter), so a SIGHUP can never interleave with a SIGTERM drain.
 */
import { EventEmitter } from 'node:events';
import { ExitCode } from '../errors';
import { WorkerMessage, isWorkerMessage } from '../protocol';
import { describeSocket, releaseSocket, socketInfo } from '../sockets/hold';
import { SharedSockets } from '../sockets/shared';
import { LifecycleEvent, MasterState, transition } from './lifecycle';
import { backoffMs, countFailure, plan } from './plan';
import { due } from './supervise';
import { Generations } from './generations';
import { abortReason, describeFailure } from './rollout';
import { Reloads } from './reloads';
import { routeMasterSignals } from './signals';
import { MasterSnapshot, buildSnapshot } from './snapshot';
import { ControlResult, MasterEvent, MasterOptions } from './types';
import { DrainReason, ExitReason, WorkerHandle, drainUntilExited, numberWorkerFds, startWorker } from './worker-handle';

/** How often the supervision tick runs (hang, boot and drain deadlines, recycling by age). */
const TICK_MS = 250;
/** A hung or late worker gets SIGTERM, then SIGKILL this much later. */
const KILL_GRACE_MS = 1000;

/**
 * Events for observers (metrics, systemd notify, admin, the cluster2 facade):
 * 'state' (to, from), 'spawn' (worker), 'listening' (worker), 'booted' (worker: listened and
 * settled), 'exit' (worker, reason),
 * 'recycle' (worker, reason), 'reload' ({ok, generation, durationMs, message}), 'signal' (name),
 * 'ping' (worker), 'message' (worker, message).
 */
export class Master extends EventEmitter {
  state: MasterState = 'STARTING';
  private readonly generations: Generations;
  private readonly workers = new Map<number, WorkerHandle>();
  private readonly queue: MasterEvent[] = [];
  private running = false;
  /** Events wait in the queue, and the app's own messages here, until start(): observers attach first. */
  private started = false;
  private readonly appMessages: [WorkerHandle, unknown][] = [];
  private readonly startedAt = Date.now();
  private lastTickAt = Date.now();
  private ticker: NodeJS.Timeout | undefined;
  private everBooted = false;
  private failures = { failures: 0, lastAt: 0 };
  private spawnNotBefore = 0;
  private readonly reloads: Reloads;
  private drainDeadline: number | undefined;
  private forcedKill = false;
  private socketsReleased = false;
  private retired = { connections: 0, requests: 0 };
  /** The app servers' own addresses, bound on demand (issue 12 item 5). */
  private readonly shared: SharedSockets;
  private stopSignals: () => void = () => {};
  private gate: ((w: WorkerHandle) => Promise<{ ok: boolean; message: string }>) | undefined;
  private finishResolve!: (code: number) => void;
  /** Resolves with the exit code once the master stopped (STOPPED and every worker reaped). */
  readonly finished = new Promise<number>((resolve) => (this.finishResolve = resolve));
  private exitCode: number = ExitCode.OK;

  /**
   * `first`: the first generation's workers, already spawned by startFirstWorkers()
   * (worker-handle.ts) in this same tick; start() announces them. Signals join the queue from
   * here on, in the order they come with the workers' events: a SIGTERM that reached the master
   * and its booting workers together (systemd's KillMode=control-group) is a drain, not their
   * boot failure.
   */
  constructor(readonly options: MasterOptions, first: WorkerHandle[] = []) {
    super();
    numberWorkerFds(options.sockets);
    for (const w of first) this.adopt(w);
    this.stopSignals = routeMasterSignals((signal) => this.enqueue({ kind: 'signal', signal }), options.routeSignals);
    this.generations = new Generations(options.release);
    this.shared = new SharedSockets(options.log);
    const master = this;
    this.reloads = new Reloads({
      get state() {
        return master.state;
      },
      move: (event) => this.move(event),
      emit: (event, result) => this.emit(event, result),
    }, this.generations, options.paths, options.log);
  }

  /** The generation the fleet runs or rolls out: new workers carry it. After an aborted reload, the last good one. */
  get generation(): number {
    return this.generations.current;
  }

  /** Announces the first workers, lets the queued events through and starts the supervision tick. */
  start(): void {
    this.started = true;
    this.ticker = setInterval(() => this.enqueue({ kind: 'tick' }), TICK_MS);
    this.options.log.info({ state: this.state, workers: this.options.workers, sockets: this.options.sockets.map(describeSocket) }, 'starting');
    for (const w of this.workers.values()) this.announce(w);
    for (const [w, m] of this.appMessages.splice(0)) this.emit('message', w, m);
    this.enqueue({ kind: 'tick' });
  }

  /**
   * A start that failed after its first workers were spawned (an observer or the control socket
   * could not start): drains them, SIGKILL after the graceful timeout or at once on a signal
   * (Ctrl-C, `systemctl stop`); resolves once all exited. Never started, the master applies none
   * of its queued events.
   */
  async abandon(): Promise<void> {
    const { exited, killNow } = drainUntilExited([...this.workers.values()], this.options.gracefulTimeoutMs);
    this.stopSignals();
    this.stopSignals = routeMasterSignals(killNow, this.options.routeSignals);
    await exited;
    this.stopSignals();
  }

  enqueue(event: MasterEvent): void {
    this.queue.push(event);
    if (!this.running && this.started) {
      this.running = true;
      setImmediate(() => this.run());
    }
  }

  /** A control command (`sockrun reload|shutdown|stop`); reload resolves when the rollout ends. */
  control(command: 'reload' | 'shutdown' | 'stop'): Promise<ControlResult> {
    return new Promise((reply) => this.enqueue({ kind: 'control', command, reply }));
  }

  snapshot(): MasterSnapshot {
    return buildSnapshot({
      state: this.state,
      generation: this.generation,
      startedAt: this.startedAt,
      lastTickAt: this.lastTickAt,
      tickMs: TICK_MS,
      target: this.options.workers,
      live: this.liveWorkers(),
      releases: this.generations.all(),
      retired: this.retired,
      sockets: this.options.sockets.map(socketInfo),
    });
  }

  /**
   * Checks a new worker of a reload must pass, after its settle period, before it counts as
   * booted (the admin layer's --ecv-monitor and --validator: admin/rollout-gate.ts).
   */
  setRolloutGate(gate: ((w: WorkerHandle) => Promise<{ ok: boolean; message: string }>) | undefined): void {
    this.gate = gate;
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
        // During the drain delay the fleet still serves: what dies is replaced (issue 12 §7).
        if (this.state !== 'STOPPED' && !(this.state === 'DRAINING' && this.drainDeadline !== undefined)) this.reconcile();
        this.shared.prune(this.liveWorkers());
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
      case 'gate':
        return this.onGate(event.worker, event.ok, event.message);
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
    if (command === 'reload') return this.reloads.start(reply);
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

  private onWorkerMessage(w: WorkerHandle, m: WorkerMessage): void {
    switch (m.type) {
      case 'sockrun:listening':
        if (m.allListening && w.stage === 'SPAWNED') {
          w.stage = 'SETTLING';
          w.listeningAt = Date.now();
          w.lastPingAt = Date.now();
          this.options.log.info({ worker: w.id, workerPid: w.pid, generation: w.generation, bootMs: w.listeningAt - w.spawnedAt }, 'worker listening');
          this.emit('listening', w);
          if (this.options.settleMs <= 0) this.settle(w);
        }
        return;
      case 'sockrun:not-serving':
        return this.onStoppedServing(w);
      case 'sockrun:ping':
        w.stats = m.stats;
        w.lastPingAt = Date.now();
        this.emit('ping', w);
        return;
      case 'sockrun:boot-error':
        w.bootError ??= m.message;
        return;
      case 'sockrun:share':
        return this.shared.onMessage(w, m);
      default:
        this.emit('message', w, m);
    }
  }

  /** The settle period is over: during a reload, the rollout gate decides; else it is booted. */
  private settle(w: WorkerHandle): void {
    if (!this.gate || this.state !== 'RELOADING' || w.generation !== this.generation) return this.boot(w);
    w.gated = true;
    void this.gate(w).then((r) => this.enqueue({ kind: 'gate', worker: w, ok: r.ok, message: r.message }));
  }

  private onGate(w: WorkerHandle, ok: boolean, message: string): void {
    if (!w.alive || w.stage !== 'SETTLING') return;
    if (ok) return this.boot(w);
    this.options.log.warn({ worker: w.id, workerPid: w.pid, generation: w.generation, check: message }, 'new worker failed its rollout checks; killing it');
    w.bootError ??= message;
    w.kill('boot_timeout', KILL_GRACE_MS);
  }

  /** Listened, then stayed alive for the settle period: it counts as booted from now on. */
  private boot(w: WorkerHandle): void {
    w.stage = 'LISTENING';
    w.bootedAt = Date.now();
    this.everBooted = true;
    this.options.log.info({ worker: w.id, workerPid: w.pid, generation: w.generation, settleMs: this.options.settleMs }, 'worker booted');
    this.emit('booted', w);
  }

  /** The app closed its servers outside a drain: it serves nothing any more (issue 12 §2). */
  private onStoppedServing(w: WorkerHandle): void {
    if (w.stage !== 'SETTLING' && w.stage !== 'LISTENING') return;
    const casualty = { ...w, code: null, signal: null, error: undefined, stoppedServing: true };
    this.options.log.warn({ worker: w.id, workerPid: w.pid, generation: w.generation }, `worker ${describeFailure(casualty, Date.now())}; replacing it`);
    w.bootError ??= 'stopped serving (its server closed)';
    w.drain('closed');
    this.failed(casualty);
  }

  private onWorkerExit(w: WorkerHandle, code: number | null, signal: NodeJS.Signals | null): void {
    if (!w.alive) return;
    const reason = w.exited(code, signal);
    this.retired.connections += w.stats?.connectionsTotal ?? 0;
    this.retired.requests += w.stats?.requestsTotal ?? 0;
    const expected = reason === 'reload' || reason === 'recycle' || reason === 'shutdown' || w.drainReason === 'closed';
    const failure = describeFailure({ ...w, code, signal, error: w.bootError }, Date.now());
    const fields = { worker: w.id, workerPid: w.pid, generation: w.generation, code, signal, reason, error: w.bootError };
    if (expected) this.options.log.info(fields, 'worker exited');
    else this.options.log.warn({ ...fields, failure }, reason === 'boot_failure' ? 'worker failed to boot' : 'worker died');
    this.emit('exit', w, reason);
    this.workers.delete(w.pid);

    if (this.state === 'STOPPED' || (this.state === 'DRAINING' && this.drainDeadline !== undefined)) return this.maybeFinish();
    if (expected) return;
    if (this.state === 'STARTING' && !this.everBooted && reason === 'boot_failure') {
      this.options.log.fatal({ error: failure }, 'no worker of the first generation could boot; exiting');
      this.exitCode = ExitCode.BOOT_FAILED;
      this.move('boot-failed');
      for (const other of this.liveWorkers()) other.kill('stop', 0);
      return this.maybeFinish();
    }
    this.failed({ ...w, code, signal, error: w.bootError });
  }

  /** A worker died or stopped serving unasked: back off, and abort a rollout of its generation. */
  private failed(casualty: Parameters<typeof abortReason>[2]): void {
    const now = Date.now();
    this.failures = countFailure(this.failures, now);
    const delay = backoffMs(this.failures.failures);
    this.spawnNotBefore = now + delay;
    if (delay > 0) this.options.log.warn({ failures: this.failures.failures, backoffMs: delay }, 'workers keep failing; backing off');
    const abort = abortReason(this.state === 'RELOADING', this.generation, casualty, now);
    if (abort) this.reloads.finish(false, abort);
  }

  private onTick(): void {
    const now = Date.now();
    this.lastTickAt = now;
    const { log, bootTimeoutMs, gracefulTimeoutMs } = this.options;
    const deadlines = { ...this.options, mayRecycle: this.state !== 'DRAINING' && this.state !== 'STARTING' };
    for (const w of this.liveWorkers()) {
      const d = due(w, now, deadlines);
      if (!d) continue;
      const who = { worker: w.id, workerPid: w.pid };
      if (d.kind === 'settled') this.settle(w);
      else if (d.kind === 'boot-timeout') {
        log.warn({ ...who, bootTimeoutMs }, 'worker did not listen in time; killing it');
        w.bootError ??= `did not listen within ${bootTimeoutMs} ms${this.shared.bootHint(w.pid)}`;
        w.kill('boot_timeout', KILL_GRACE_MS);
      } else if (d.kind === 'hang') {
        log.warn({ ...who, reason: 'hang', silentMs: d.silentMs }, 'worker event loop blocked; killing it');
        w.kill('hang', KILL_GRACE_MS);
      } else if (d.kind === 'recycle') {
        w.recycleDue = d.reason;
        log.info({ ...who, reason: d.reason }, 'worker due for recycling');
        this.emit('recycle', w, d.reason);
      } else {
        log.warn({ ...who, gracefulTimeoutMs }, 'worker still busy at the graceful timeout; killing it');
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
      generation: this.generation,
      surge: this.state === 'RELOADING' ? this.options.reloadSurge : 1,
      maySpawn: Date.now() >= this.spawnNotBefore,
      refillOnly: this.state === 'DRAINING',
    });
    for (const { id, reason } of decision.drain) {
      const w = live.find((x) => x.id === id)!;
      this.options.log.info({ worker: w.id, workerPid: w.pid, generation: w.generation, reason }, 'draining worker');
      w.drain(reason as DrainReason);
    }
    for (let i = 0; i < decision.spawn; i++) this.spawnWorker();
    this.generations.prune(this.liveWorkers().map((w) => w.generation));

    const serving = this.liveWorkers().filter((w) => w.stage === 'SPAWNED' || w.stage === 'SETTLING' || w.stage === 'LISTENING');
    const allBooted = serving.length >= this.options.workers && serving.every((w) => w.stage === 'LISTENING');
    if (this.state === 'STARTING' && allBooted) {
      this.move('all-listening');
      this.options.log.info({ workers: serving.length, startupMs: Date.now() - this.startedAt }, 'ready');
    } else if (this.state === 'RELOADING' && allBooted && this.liveWorkers().every((w) => w.generation === this.generation)) {
      // Done only when every old worker has exited, not just stopped accepting: `systemctl
      // reload` then returns when the rollout is really over.
      this.reloads.finish(true, `generation ${this.generation} serving`);
    }
  }

  private spawnWorker(): void {
    const used = new Set(this.liveWorkers().filter((w) => w.stage !== 'DRAINING').map((w) => w.id));
    let id = 0;
    while (used.has(id)) id++;
    const w = startWorker(this.options, id, this.generation, this.generations.release(), this.liveWorkers().map((x) => x.inspectorPort));
    this.adopt(w);
    this.announce(w);
  }

  /** Its events join the queue from now on. */
  private adopt(w: WorkerHandle): void {
    this.workers.set(w.pid, w);
    w.child.on('message', (m: unknown) => {
      if (isWorkerMessage(m)) this.enqueue({ kind: 'worker-message', worker: w, message: m });
      else if (this.started) this.emit('message', w, m);
      else this.appMessages.push([w, m]);
    });
    w.child.once('exit', (code, signal) => this.enqueue({ kind: 'worker-exit', worker: w, code, signal }));
    w.child.once('error', (err) => {
      this.options.log.error({ err, worker: w.id }, 'could not spawn worker');
      if (w.pid < 0) this.enqueue({ kind: 'worker-exit', worker: w, code: null, signal: null });
    });
  }

  private announce(w: WorkerHandle): void {
    this.options.log.debug({ worker: w.id, workerPid: w.pid, generation: w.generation }, 'spawned worker');
    this.emit('spawn', w);
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
    this.stopSignals();
    this.releaseSockets();
    this.reloads.abandon();
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

export type { ExitReason, MasterSnapshot, ControlResult, MasterEvent, MasterOptions };
export type { WorkerSnapshot, GenerationSnapshot } from './snapshot';
