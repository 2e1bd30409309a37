/**
 * The worker's drain, per protocol (DESIGN §4), behind the one `drainConnections()` the runtime
 * calls:
 *
 * | connection | on a drain |
 * |---|---|
 * | every server on an inherited socket | stops accepting at once (the next worker accepts) |
 * | HTTP/1.1 (http1.ts) | responses in flight carry `Connection: close`; idle keep-alive ended after 1 s without a request |
 * | HTTP/2 (http2.ts) | GOAWAY to every session (in two steps), streams in flight finish, new streams go to a new connection |
 * | upgraded: WebSockets, CONNECT (upgraded.ts) | left to the app; what is still open is ended just before `--graceful-timeout` |
 * | raw TCP | left open until it ends by itself; the master kills the worker at `--graceful-timeout` |
 *
 * and before sockrun touches any of them, the app's own shutdown code runs (app-shutdown.ts).
 */
import { appExitCode, closeTheDrainWay, deferAppExit, runAppSigtermListeners, runDrainHooks, stopAccepting } from './app-shutdown';
import { scheduleSweep, sweep } from './connections';
import { drainHttp1 } from './http1';
import { drainHttp2 } from './http2';
import { DrainState, Hook, state } from './state';
import { endUpgraded, endUpgradedAfterMs } from './upgraded';

export { observe } from './connections';
export { exitNow, ownListener } from './app-shutdown';

export interface DrainSettings {
  /** `--idle-timeout` in ms; 0 = off. */
  idleTimeoutMs: number;
  /** `--graceful-timeout` in ms, when the master kills a worker still draining; 0 = unknown. */
  gracefulTimeoutMs: number;
}

/** Sets the timeouts (once, at install). */
export function configureDrain(settings: DrainSettings): void {
  state.idleTimeoutMs = settings.idleTimeoutMs;
  state.gracefulTimeoutMs = settings.gracefulTimeoutMs;
  scheduleSweep();
}

/** True once this worker was told to drain (SIGTERM, master request or master gone). */
export function isDraining(): boolean {
  return state.draining;
}

/**
 * Runs `hook` at the start of every drain, beside the app's SIGTERM listeners and before sockrun
 * touches a connection: the place to close WebSockets with 1001, stop consumers, deregister.
 * The drain does not wait for it to proceed; the worker exits only after its promise settled.
 */
export function onDrain(hook: Hook): void {
  state.drainHooks.push(hook);
}

/** Runs `hook` (awaited, in order) after every server closed and before the worker exits on a drain. */
export function onShutdown(hook: Hook): void {
  state.shutdownHooks.push(hook);
}

/** Connection and request counts for the pings. */
export function connectionStats(): Readonly<DrainState['stats']> {
  return state.stats;
}

export interface DrainOptions {
  /** The drain comes from a real SIGTERM: Node calls the app's SIGTERM listeners itself, right after ours. */
  bySignal?: boolean;
  /** This is a worker process of its own: the app's SIGTERM listeners are run, its exit deferred. */
  appShutdown?: boolean;
}

/**
 * Drains every server on an inherited socket, per protocol (table above), and resolves with the
 * exit code once all of them closed, the app's shutdown code settled and the shutdown hooks ran;
 * `undefined` when a drain was already under way. Exiting is the caller's.
 */
export async function drainConnections(why: string, o: DrainOptions = {}): Promise<number | undefined> {
  if (state.draining) return undefined;
  state.draining = true;
  const startedAt = Date.now();
  process.env.SOCKRUN_DRAIN_REASON = why;
  for (const server of state.servers.keys()) closeTheDrainWay(server);

  // 1. The app's shutdown code, first, as without sockrun.
  const pending: Promise<unknown>[] = [];
  if (o.appShutdown) {
    deferAppExit();
    if (!o.bySignal) pending.push(...runAppSigtermListeners());
  }
  pending.push(...runDrainHooks(state.drainHooks));
  // What they did synchronously is done; a real SIGTERM calls the app's listeners after ours:
  // let those run too before touching a connection.
  await new Promise((resolve) => setImmediate(resolve));

  // 2. Stop accepting; then each connection by its protocol.
  const closed = [...state.servers].map(([server, s]) => new Promise<void>((resolve) => {
    if (!s.listened || s.closed) return resolve();
    server.once('close', () => resolve());
    stopAccepting(server);
  }));
  for (const c of state.conns) {
    if (c.kind === 'http') drainHttp1(c);
    else if (c.kind === 'h2') drainHttp2(c);
  }
  sweep(Date.now());
  scheduleSweep();
  const deadline = state.gracefulTimeoutMs > 0
    ? setTimeout(() => {
      const n = endUpgraded(state.conns);
      if (n > 0) console.error(`sockrun: ended ${n} upgraded connection(s) (WebSockets) still open ${Date.now() - startedAt} ms into the drain, just before --graceful-timeout`);
    }, endUpgradedAfterMs(state.gracefulTimeoutMs) - (Date.now() - startedAt)).unref()
    : undefined;

  await Promise.all(closed);
  await Promise.allSettled(pending);
  clearTimeout(deadline);

  // 3. Every connection is closed: shutdown hooks, then the caller exits.
  for (const hook of state.shutdownHooks) {
    try {
      await hook();
    } catch (err) {
      console.error('sockrun: shutdown hook failed:', err);
    }
  }
  return appExitCode();
}
