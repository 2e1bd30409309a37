/**
 * The app's own shutdown code, run at the start of every drain (reload, recycle, shutdown) as it
 * would run without sockrun (issue 12 §6): its `process.on('SIGTERM')` listeners (NestJS
 * `enableShutdownHooks`, closing pools, flushing telemetry, closing WebSockets with 1001) and
 * sockrun's drain hooks (`onDrain`). The drain reaches a worker over IPC, not as a signal, so
 * sockrun calls those listeners itself.
 *
 * sockrun still guarantees that requests in flight complete, whatever that code does:
 * - `process.exit()` during a drain is deferred until the drain is over, then exits with the
 *   code the app asked for (an app whose SIGTERM listener does `server.close(); process.exit(0)`
 *   would otherwise cut every request in flight);
 * - `server.close()` on a server of an inherited socket during a drain stops accepting and calls
 *   back when its last connection ended, as always, but leaves the idle keep-alive connections
 *   to sockrun's drain (ended after a second without a request) instead of resetting them at
 *   once, which races a client that is just sending its next request on one.
 */
import net = require('node:net');
import { Hook, state } from './state';

/** Marks sockrun's own signal listeners: the drain must not call them as the app's. */
const OWN = Symbol.for('sockrun.worker.own-listener');

/** Returns `listener`, marked as sockrun's own (see runAppSigtermListeners). */
export function ownListener<T extends (...args: never[]) => unknown>(listener: T): T {
  (listener as T & { [OWN]?: boolean })[OWN] = true;
  return listener;
}

/**
 * Calls the app's SIGTERM listeners now, in order, as a SIGTERM would (with 'SIGTERM' as the
 * argument; `once` listeners are removed). A listener that throws is reported and the drain goes
 * on. Returns the promises they returned: the worker exits only after they settled.
 */
export function runAppSigtermListeners(): Promise<unknown>[] {
  const pending: Promise<unknown>[] = [];
  for (const listener of process.rawListeners('SIGTERM')) {
    const original = (listener as { listener?: unknown }).listener ?? listener;
    if ((original as { [OWN]?: boolean })[OWN]) continue;
    pending.push(settle(() => (listener as (signal: string) => unknown).call(process, 'SIGTERM'), 'a SIGTERM listener of the app'));
  }
  return pending;
}

/** Calls every drain hook now; returns the promises they returned. */
export function runDrainHooks(hooks: Hook[]): Promise<unknown>[] {
  return hooks.map((hook) => settle(hook, 'a drain hook'));
}

function settle(fn: () => unknown, what: string): Promise<unknown> {
  try {
    return Promise.resolve(fn()).catch((err: unknown) => console.error(`sockrun: ${what} failed:`, err));
  } catch (err) {
    console.error(`sockrun: ${what} failed:`, err);
    return Promise.resolve();
  }
}

let realExit: ((code?: number) => never) | undefined;
let requestedCode: number | undefined;

/** From now on, the app's `process.exit(code)` waits for the end of the drain. */
export function deferAppExit(): void {
  if (realExit) return;
  realExit = process.exit.bind(process) as (code?: number) => never;
  process.exit = function exitAfterDrain(code?: number | string | null): never {
    requestedCode = Number(code ?? process.exitCode ?? 0) || 0;
    return undefined as never;
  } as typeof process.exit;
}

/** The exit code the app asked for during the drain (0 when it did not ask). */
export function appExitCode(): number {
  return requestedCode ?? 0;
}

/** Exits now, whatever the app did to `process.exit`: sockrun's own exits (drain over, master gone). */
export function exitNow(code: number): never {
  return (realExit ?? process.exit.bind(process))(code);
}

/** During the drain, `server.close()` of an inherited-socket server closes it sockrun's way (see above). */
export function closeTheDrainWay(server: net.Server): void {
  const s = state.servers.get(server);
  server.close = function closeOnDrain(this: net.Server, callback?: (err?: Error) => void): net.Server {
    stopAccepting(server);
    if (callback) {
      if (s?.closed) process.nextTick(callback, Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' }));
      else server.once('close', () => callback());
    }
    return this;
  };
}

/**
 * Stops accepting without touching connections. net's close, not http's: http.Server#close
 * also drops idle keep-alive connections at once, and Http2Server#close (Node ≥ 24) sends each
 * session a GOAWAY that refuses streams already on their way (http2.ts).
 */
export function stopAccepting(server: net.Server): void {
  if (server.listening) net.Server.prototype.close.call(server);
}
