import pino, { Logger } from 'pino';

/**
 * The master's structured log: JSON lines on stdout (journald, Kubernetes), or pino-pretty
 * when asked for or when stdout is a terminal. Writes are synchronous: the master logs only
 * lifecycle events, and the last lines before an exit must not be lost.
 */
export function createLogger(level: string, format: 'json' | 'pretty' | undefined): Logger {
  const pretty = format === 'pretty' || (format === undefined && process.stdout.isTTY === true);
  const base = { name: 'sockrun', pid: process.pid };
  if (!pretty) return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ sync: true }));
  // Required lazily: it is only needed for humans at a terminal.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const pinoPretty = require('pino-pretty') as (o: object) => NodeJS.WritableStream;
  return pino({ level, base }, pinoPretty({ sync: true, ignore: 'name,hostname', translateTime: 'SYS:HH:MM:ss.l' }) as never);
}
