/**
 * cluster2 0.3–0.5 options that have no sockrun option of the same meaning (issue 17): what
 * each becomes, the one-line warnings for those sockrun does another way, and the error for a
 * name neither cluster2 nor sockrun knows. Every option cluster2 documented or read starts;
 * only a typo stops the script (exit 2), with a "did you mean" when one name is close.
 *
 * Units are cluster2's: `heartbeatInterval` and `maxHeartbeatDelay` in milliseconds,
 * `uptimeThreshold` in seconds (it was compared with process.uptime()). Numeric strings count
 * as numbers (cluster2's own test server read them from the environment); other strings are
 * sockrun durations (`'24h'`).
 */
import { usageError, SockrunError } from '../errors';
import { OPTIONS } from '../config/options';
import { parseDuration } from '../config/units';

/** cluster2 0.4's heartbeat period when `heartbeatInterval` is not given: the rate of `heartbeat` events. */
export const CLUSTER2_HEARTBEAT_MS = 60_000;
/** cluster2's monitor port, opened when a monitor app is given without `monPort`. */
export const CLUSTER2_MON_PORT = 3001;
/**
 * With `heartbeatInterval` but no `maxHeartbeatDelay`, a worker counts as hung after this many
 * intervals without a ping (cluster2's defaults: 60 s interval, 3 min delay), and never sooner
 * than sockrun's own default hang timeout.
 */
const MISSED_HEARTBEATS = 3;

/** Every key of `ecv` cluster2 documented or read. */
const ECV_KEYS = ['path', 'monitor', 'control', 'validator'];

/** `'1000'` → 1000; durations (`'3s'`) are left to the sockrun parser. */
export function cluster2Number(value: number | string): number | string {
  return typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
}

/** `uptimeThreshold` (seconds, as cluster2) → a sockrun duration. */
export function uptimeToAge(value: number | string): number | string {
  const v = cluster2Number(value);
  return typeof v === 'number' ? `${v}s` : v;
}

/**
 * The hang timeout implied by `heartbeatInterval` alone: three missed heartbeats, at least
 * sockrun's default. A worker pinging every 60 s must not be killed after 30 s of silence.
 */
export function hangTimeoutFor(heartbeatInterval: number | string): number {
  const interval = parseDuration(cluster2Number(heartbeatInterval), 'heartbeatInterval');
  return Math.max(parseDuration(OPTIONS['hang-timeout'].default), MISSED_HEARTBEATS * interval);
}

/** What a cluster2 option sockrun does not use would have done, and what sockrun does instead. */
export interface Cluster2LegacyInput {
  logs?: unknown;
  monPath?: unknown;
  ecv?: { validator?: unknown } | false;
}

/** One line per option given that sockrun accepts but does another way. */
export function cluster2Warnings(options: Cluster2LegacyInput): string[] {
  const out: string[] = [];
  if (options.logs !== undefined) {
    out.push('cluster2 option logs: sockrun serves no log files; workers write to the master\'s stdout and stderr (journald, kubectl logs)');
  }
  if (options.monPath !== undefined) {
    out.push('cluster2 option monPath: the admin port answers /livez, /readyz, /metrics and /ecv; a monitor app is served at its own paths');
  }
  if (options.ecv && options.ecv.validator !== undefined) {
    out.push('cluster2 option ecv.validator: not called (cluster2 0.3-0.5 never called it either); for a readiness check give validator: a module path (docs/admin.md)');
  }
  return out;
}

/** Unknown keys of `ecv` are typos too. */
export function checkEcvKeys(ecv: object): void {
  for (const key of Object.keys(ecv)) {
    if (!ECV_KEYS.includes(key)) throw unknownOption(`ecv.${key}`, ECV_KEYS.map((k) => `ecv.${k}`));
  }
}

/** `new Cluster(): unknown option "maxHeartBeatDelay" (did you mean maxHeartbeatDelay?)`. */
export function unknownOption(key: string, known: Iterable<string>): SockrunError {
  const hint = closest(key, known);
  return usageError(`new Cluster(): unknown option "${key}"${hint ? ` (did you mean ${hint}?)` : ''}`);
}

/** The one known name within a small edit distance of `name` (case ignored), if there is one. */
function closest(name: string, known: Iterable<string>): string | undefined {
  const limit = Math.min(2, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** Levenshtein distance, one row at a time. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}
