import type { Logger } from 'pino';

/** pino's level numbers. */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
/** Lines are held at most this long: a fleet that takes longer to listen pays for pino while it boots. */
const HOLD_AT_MOST_MS = 1000;

/**
 * The master's structured log: JSON lines on stdout (journald, Kubernetes), or pino-pretty
 * when asked for or when stdout is a terminal. Writes are synchronous: the master logs only
 * lifecycle events, and the last lines before an exit must not be lost.
 *
 * pino itself is loaded only once the first workers listen (startLogging, run.ts): requiring it
 * costs ~30 ms of CPU, taken from the workers while they boot when the master loads it earlier
 * (issue 16: 2 workers answered ~30 ms later on 2 cores). Until then debug and info lines are
 * held, in order, and written with the time they were logged; a warning or worse (written before
 * the workers' own output it may explain), any other use of the logger, the process exiting or
 * HOLD_AT_MOST_MS load pino at once.
 */
export function createLogger(level: string, format: 'json' | 'pretty' | undefined): Logger {
  const threshold = LEVELS[level] ?? (level === 'silent' ? Infinity : LEVELS.info);
  const held: { method: string; args: unknown[]; at: number }[] = [];
  let real: Logger | undefined;
  let replaying: number | undefined;
  const load = (): Logger => {
    if (real) return real;
    clearTimeout(timer);
    process.removeListener('exit', load);
    real = pinoLogger(level, format, () => replaying ?? Date.now());
    for (const line of held.splice(0)) {
      replaying = line.at;
      (real as unknown as Record<string, (...a: unknown[]) => void>)[line.method](...line.args);
    }
    replaying = undefined;
    return real;
  };
  const timer = setTimeout(load, HOLD_AT_MOST_MS).unref();
  process.once('exit', load);
  const logger = new Proxy({} as Logger, {
    get(_target, prop) {
      if (!real && typeof prop === 'string' && LEVELS[prop] < LEVELS.warn) {
        return (...args: unknown[]) => {
          if (LEVELS[prop] >= threshold) held.push({ method: prop, args, at: Date.now() });
        };
      }
      const target = load();
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  deferred.set(logger, load);
  return logger;
}

const deferred = new WeakMap<object, () => unknown>();

/** Loads pino and writes what was held. run.ts calls it once the first workers listen. */
export function startLogging(log: Logger): void {
  deferred.get(log)?.();
}

function pinoLogger(level: string, format: 'json' | 'pretty' | undefined, now: () => number): Logger {
  const pino = require('pino') as typeof import('pino');
  const pretty = format === 'pretty' || (format === undefined && process.stdout.isTTY === true);
  const base = { name: 'sockrun', pid: process.pid };
  // pino.stdTimeFunctions.isoTime, for the time a held line was logged.
  const timestamp = () => `,"time":"${new Date(now()).toISOString()}"`;
  if (!pretty) return pino({ level, base, timestamp }, pino.destination({ sync: true }));
  // Required lazily: it is only needed for humans at a terminal.
  const pinoPretty = require('pino-pretty') as (o: object) => NodeJS.WritableStream;
  return pino({ level, base, timestamp }, pinoPretty({ sync: true, ignore: 'name,hostname', translateTime: 'SYS:HH:MM:ss.l' }) as never);
}
