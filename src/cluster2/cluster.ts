/**
 * cluster2's programming model on sockrun (DESIGN §3, §10): the same script runs as the master
 * and in every worker, and `new Cluster(options).listen(cb => cb(server))` does the right thing
 * in each.
 *
 *   const { Cluster } = require('sockrun');       // was: const Cluster = require('cluster2');
 *   const c = new Cluster({ port: 3000 });
 *   c.on('died', (pid) => console.log(`worker ${pid} died`));
 *   c.listen((cb) => cb(server));
 *
 * Which role `listen()` plays is decided once, from the environment:
 *  - in a sockrun worker (SOCKRUN_SOCKETS is set: spawned by a Cluster master, or by the
 *    `sockrun` CLI): it calls the app callback and the server serves on the inherited socket;
 *  - with `cluster: false` (or zero workers): the app runs in this one process, which holds its
 *    socket itself;
 *  - otherwise this process becomes the master: it holds the sockets and runs this script in
 *    the workers (master-role.ts).
 */
import { EventEmitter } from 'node:events';
import type { ControlResult } from '../master/master';
import type { ExitReason } from '../master/worker-handle';
import type { MasterState } from '../master/lifecycle';
import { DelegateHandler, DelegateRouter } from '../master/delegate';
import { WorkerEnv } from '../protocol';
import { DelegateOptions, delegate } from '../worker/delegate';
import { inheritedSockets } from '../worker/runtime';
import type { Heartbeat } from './heartbeat';
import { ClusterOptions, singleProcessRequested } from './options';
import { controlRemoteMaster } from './remote';

/** Anything with a listen() like net.Server, http.Server or an express app. */
export interface Listenable {
  listen(...args: unknown[]): unknown;
}

/** cluster2's multi-app form: `cb([{ app, port }, …])`. */
export interface AppSpec {
  app: Listenable;
  port: number | string | (number | string)[];
}

/** What the app callback is handed: call it with the server (or servers) to run. */
export type Serve = (app: Listenable | AppSpec[], monApp?: unknown) => void;
export type CreateApp = (serve: Serve) => void;

/** How a worker ended, as the `died` event reports it. */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** crash, signal, hang, recycle, reload, shutdown, boot_failure. */
  reason: ExitReason;
  /** The worker slot (0 … noWorkers-1) and its generation. */
  id: number;
  generation: number;
}

/** What signal-name events carry (cluster2 passed the same). */
export interface SignalInfo {
  pid: number;
  type: 'master' | 'worker';
}

export type ClusterRole = 'master' | 'worker' | 'single';

/**
 * The role-specific half of a Cluster: master-role.ts, worker-role.ts, single-process.ts.
 * `stop` is immediate, `shutdown` drains.
 */
export interface RoleRunner {
  stop(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Events (cluster2's, then sockrun's):
 *  - `forked` (pid): a worker was spawned;
 *  - `listening` (pid): a worker listens on every socket; in a worker or single process, its own pid;
 *  - `died` (pid, {code, signal, reason, id, generation}): a worker exited, including during
 *    shutdown() and stop();
 *  - `SIGTERM`, `SIGINT`, `SIGHUP`, `SIGQUIT` ({pid, type}): the master (type 'master') got the
 *    signal, or a worker (type 'worker') was told to drain; the master also emits `SIGTERM` for a
 *    drain no signal started (shutdown(), the shutdown script, `sockrun shutdown`), as cluster2
 *    did; `SIGKILL`: the master stops at once (stop(), `sockrun stop`, SIGQUIT), since a real
 *    SIGKILL cannot be observed;
 *  - `heartbeat` (Heartbeat): in the master, one worker's stats from its pings, every
 *    `heartbeatInterval` (default 60 s) per worker (heartbeat.ts);
 *  - `reloaded` ({ok, message, generation, durationMs}): a rolling reload (SIGHUP) ended;
 *  - `state` (to, from): the master's lifecycle state changed (STARTING, READY, …);
 *  - `stopped` (exitCode): the master (or single process) is about to exit;
 *  - `error` (err): the master could not start (port busy…). Without a listener the error is
 *    printed and the process exits with its documented code, as cluster2 did for a busy port.
 *  - a delegate kind (message, {pid, id}): a worker's cluster2-shaped delegate request that no
 *    handle() handler answers (see handle()).
 */
export interface Cluster {
  on(event: 'forked' | 'listening', listener: (pid: number) => void): this;
  on(event: 'died', listener: (pid: number, exit: WorkerExit) => void): this;
  on(event: 'reloaded', listener: (result: ControlResult) => void): this;
  on(event: 'state', listener: (to: MasterState, from: MasterState) => void): this;
  on(event: 'stopped', listener: (exitCode: number) => void): this;
  on(event: 'heartbeat', listener: (beat: Heartbeat) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: NodeJS.Signals, listener: (info: SignalInfo) => void): this;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'forked' | 'listening', listener: (pid: number) => void): this;
  once(event: 'died', listener: (pid: number, exit: WorkerExit) => void): this;
  once(event: 'reloaded', listener: (result: ControlResult) => void): this;
  once(event: 'state', listener: (to: MasterState, from: MasterState) => void): this;
  once(event: 'stopped', listener: (exitCode: number) => void): this;
  once(event: 'heartbeat', listener: (beat: Heartbeat) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: NodeJS.Signals, listener: (info: SignalInfo) => void): this;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export class Cluster extends EventEmitter {
  readonly options: ClusterOptions;
  private runner: RoleRunner | undefined;
  private currentRole: ClusterRole | undefined;
  private readonly router: DelegateRouter;

  constructor(options: ClusterOptions = {}) {
    super();
    this.options = { ...options };
    this.router = new DelegateRouter({ events: this });
  }

  /** What listen() made of this process; undefined before listen(). */
  get role(): ClusterRole | undefined {
    return this.currentRole;
  }

  /**
   * Starts the cluster (see the module comment for the three roles). `createApp` is called with
   * `serve`; pass it the server: `c.listen(cb => cb(server))`. `onListening` runs in a worker
   * (or single process) once its servers listen, and in the master once every worker listens.
   */
  listen(createApp: CreateApp, onListening?: (app?: Listenable | AppSpec[]) => void): void {
    if (typeof createApp !== 'function') throw new TypeError('Cluster.listen(createApp): createApp must be a function');
    if (this.currentRole !== undefined) throw new Error(`Cluster.listen(): already listening (as ${this.currentRole})`);
    // cluster2: `new Cluster({stop: true}).listen(…)` is a stop script.
    if (this.options.stop) return void this.stop();
    if (this.options.shutdown) return void this.shutdown();

    // A worker: spawned by a master (SOCKRUN_SOCKETS), or loaded by `sockrun --workers 0`, whose
    // process has the worker runtime installed without that variable.
    if (process.env[WorkerEnv.SOCKETS] !== undefined || inheritedSockets().length > 0) {
      this.currentRole = 'worker';
      // Required lazily: a worker never loads the master's modules, and the master never loads these.
      const { runWorker } = require('./worker-role') as typeof import('./worker-role');
      this.runner = runWorker(this, createApp, onListening);
      return;
    }
    if (singleProcessRequested(this.options, process.env)) {
      this.currentRole = 'single';
      const { runSingleProcess } = require('./single-process') as typeof import('./single-process');
      this.runner = runSingleProcess(this, createApp, onListening, this.router);
      return;
    }
    this.currentRole = 'master';
    const { runMaster } = require('./master-role') as typeof import('./master-role');
    this.runner = runMaster(this, createApp, onListening, this.router);
  }

  /**
   * Stops at once (cluster2 `stop()`): workers are killed, the master exits. Outside the
   * cluster's own processes (a stop script, as in cluster2's README) it finds the master through
   * its pid file (`<pids>/master.pid`) and resolves once the master is gone.
   */
  stop(): Promise<void> {
    return this.command('stop');
  }

  /**
   * Drains (cluster2 `shutdown()`): no new connections, in-flight requests finish, idle
   * connections close, then everything exits. Resolves once the master is gone when called from
   * another process; in the master itself, once the drain started.
   */
  shutdown(): Promise<void> {
    return this.command('shutdown');
  }

  /**
   * Master side of delegation: answers workers' `delegate(kind, …)` (and cluster2-shaped
   * `{type: 'delegate', delegate: kind}` messages) with what `handler` returns. Register it
   * before listen() or any time after; it does nothing in a worker. Returns an unregister function.
   */
  handle<P = unknown, R = unknown>(kind: string, handler: DelegateHandler<P, R>): () => void {
    return this.router.handle(kind, handler);
  }

  /** Publishes a later value of `kind` to every worker that subscribed. Returns how many. */
  notify(kind: string, value: unknown): number {
    return this.router.notify(kind, value);
  }

  /** Worker side of delegation, for convenience: the same as `require('sockrun').delegate`. */
  delegate<R = unknown, P = unknown>(kind: string, payload?: P, options?: DelegateOptions<R>): Promise<R> {
    return delegate<R, P>(kind, payload, options);
  }

  private command(cmd: 'stop' | 'shutdown'): Promise<void> {
    const done = this.runner ? this.runner[cmd]() : controlRemoteMaster(this.options, cmd);
    // cluster2 scripts call stop()/shutdown() and ignore the result: a failure must still be
    // visible (one line on stderr) and fail the script (exit code), not crash it as an unhandled
    // rejection. Callers who await the promise still see the rejection.
    done.catch((err: unknown) => {
      const e = err as { message?: string; exitCode?: number };
      process.stderr.write(`sockrun: ${e?.message ?? String(err)}\n`);
      process.exitCode = e?.exitCode ?? 1;
    });
    return done;
  }
}
