/**
 * cluster2's options, and how they become a sockrun Configuration (DESIGN §10).
 *
 * The options given to `new Cluster(…)` play the part of a config file: SOCKRUN_* environment
 * variables override them, exactly as they override `--config` for the CLI. So an operator can
 * move a hard-coded `port: 3000` (SOCKRUN_LISTEN=127.0.0.1:8080) or size the fleet
 * (SOCKRUN_WORKERS=4) without touching the code.
 */
import path = require('node:path');
import { usageError } from '../errors';
import { OPTIONS, OptionName } from '../config/options';
import { Configuration, RawOptions, RawValue, resolveConfiguration } from '../config/resolve';
import { CLUSTER2_MON_PORT, checkEcvKeys, cluster2Number, hangTimeoutFor, unknownOption, uptimeToAge } from './legacy-options';

/** `drain-delay` → `drainDelay`. */
type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;

/** Every `sockrun run` option under its camelCase name (`drainDelay: '5s'`, `recycleMemory: '512M'`). */
export type SockrunOptions = { [K in OptionName as Camel<K>]?: RawValue };

/** The options cluster2 0.3–0.5 documented or read, with their meaning (legacy-options.ts for the units). */
export interface Cluster2Options {
  /** Port(s) for the app (default 3000). Ignored under systemd socket activation. */
  port?: number | string | (number | string)[];
  /** Address to bind (default: every interface). */
  host?: string;
  /** false: run the app in this one process, no master (default true). */
  cluster?: boolean;
  /** Worker processes (default: the CPUs this process may use; cluster2: os.cpus().length). */
  noWorkers?: number;
  /** Directory for the master's pid file `master.pid` (default `<cwd>/pids`, as cluster2); false: none. */
  pids?: string | false;
  /**
   * Port of the monitor: sockrun's admin port (/livez, /readyz, /ecv, /metrics), which also serves
   * the monitor app. Off unless given, or 3001 (cluster2's default) when there is a monitor app.
   */
  monPort?: number | string;
  /** Address of the monitor (default 0.0.0.0, as cluster2). */
  monHost?: string;
  /** cluster2's ECV: `/ecv` on the app port, an HTTP check of the app, enable/disable control. */
  ecv?: { path?: string; monitor?: string; control?: boolean; validator?: unknown } | false;
  /** Idle socket timeout in milliseconds (default 30 s). */
  timeout?: number;
  /** Recycle a worker after this many connections (default off). */
  connThreshold?: number;
  /** Recycle a worker after this many seconds (sockrun recycleAge). Default off; cluster2 0.4–0.5 used 24 h. */
  uptimeThreshold?: number | string;
  /** Milliseconds between a worker's stats pings (sockrun pingInterval); `heartbeat` events come this often. */
  heartbeatInterval?: number | string;
  /** A worker that has not pinged for this many milliseconds is hung: killed and replaced (sockrun hangTimeout). */
  maxHeartbeatDelay?: number | string;
  /** The monitor app, as cluster2 0.4 also took it: the same as `cb(app, monApp)`. */
  monitor?: unknown;
  /** cluster2's monitor pages: the built-in page's path, and the log directory they listed. Accepted, not used. */
  monPath?: string;
  logs?: string;
  /** cluster2 `new Cluster({stop: true}).listen()`: stop the running master instead of starting. */
  stop?: boolean;
  /** cluster2 `new Cluster({shutdown: true}).listen()`: drain the running master instead of starting. */
  shutdown?: boolean;
}

export type ClusterOptions = Cluster2Options & SockrunOptions;

/** cluster2 option → the sockrun option it stands for; giving both is an error. */
const ALIASES: [keyof Cluster2Options, OptionName][] = [
  ['port', 'listen'],
  ['host', 'listen'],
  ['noWorkers', 'workers'],
  ['pids', 'pid-file'],
  ['monPort', 'admin'],
  ['monHost', 'admin'],
  ['timeout', 'idle-timeout'],
  ['connThreshold', 'recycle-connections'],
  ['ecv', 'ecv-on-app-port'],
  ['uptimeThreshold', 'recycle-age'],
  ['heartbeatInterval', 'ping-interval'],
  ['maxHeartbeatDelay', 'hang-timeout'],
];

const CLUSTER2_KEYS = new Set<string>(['port', 'host', 'cluster', 'noWorkers', 'pids', 'monPort', 'monHost', 'ecv', 'timeout', 'connThreshold', 'stop', 'shutdown',
  'uptimeThreshold', 'heartbeatInterval', 'maxHeartbeatDelay', 'monitor',
  // Accepted with a warning that says what sockrun does instead (legacy-options.ts).
  'monPath', 'logs']);

/** cluster2's default port. */
export const DEFAULT_PORT = 3000;

/** Where the master's pid file goes: `<pids>/master.pid`, `<cwd>/pids` by default (cluster2). */
export function pidFileOf(options: ClusterOptions, cwd = process.cwd()): string | undefined {
  if (options.pidFile !== undefined) return String(options.pidFile);
  if (options.pids === false) return undefined;
  return path.join(path.resolve(cwd, options.pids ?? 'pids'), 'master.pid');
}

/** The ports the app listens on, as cluster2 read them (`port`, possibly a list). */
export function portsOf(options: ClusterOptions): (number | string)[] {
  const p = options.port ?? DEFAULT_PORT;
  return Array.isArray(p) ? p : [p];
}

/**
 * `cluster: false`, or zero workers (`noWorkers: 0`, `workers: 0`, SOCKRUN_WORKERS=0, with the
 * usual precedence): the app runs in this one process (`--workers 0`).
 */
export function singleProcessRequested(options: ClusterOptions, env: NodeJS.ProcessEnv): boolean {
  if (options.cluster === false) return true;
  const fromEnv = env.SOCKRUN_WORKERS;
  const workers = fromEnv !== undefined && fromEnv !== '' ? fromEnv : options.workers ?? options.noWorkers;
  return workers !== undefined && String(workers).trim() === '0';
}

/**
 * Translates Cluster options into the raw sockrun options (the "config file" level of
 * resolveConfiguration). `adoptingSockets`: systemd socket activation or `fd` hands us the
 * sockets, so `port`/`host` bind nothing (cluster2 apps then need no change either).
 */
export function toRawOptions(options: ClusterOptions, adoptingSockets: boolean, cwd = process.cwd()): RawOptions {
  const raw: RawOptions = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || CLUSTER2_KEYS.has(key)) continue;
    const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) as OptionName;
    if (!(name in OPTIONS)) throw unknownOption(key, [...CLUSTER2_KEYS, ...Object.keys(OPTIONS).map(camel)]);
    raw[name] = value as RawValue;
  }
  for (const [alias, name] of ALIASES) {
    if (options[alias] !== undefined && raw[name] !== undefined) {
      throw usageError(`new Cluster(): give either ${alias} (cluster2) or ${camel(name)} (sockrun), not both`);
    }
  }
  if (raw.listen === undefined && !adoptingSockets) {
    raw.listen = portsOf(options).map((port) => listenAddress(options.host, port));
  }
  if (options.noWorkers !== undefined) raw.workers = options.noWorkers;
  const pidFile = pidFileOf(options, cwd);
  if (pidFile !== undefined) raw['pid-file'] = pidFile;
  if (options.monPort !== undefined) raw.admin = listenAddress(options.monHost ?? '0.0.0.0', options.monPort);
  // cluster2 served a monitor app on 3001 when no monPort was given.
  else if (isApp(options.monitor) && raw.admin === undefined) raw.admin = listenAddress(options.monHost ?? '0.0.0.0', CLUSTER2_MON_PORT);
  if (options.timeout !== undefined) raw['idle-timeout'] = options.timeout;
  if (options.connThreshold !== undefined) raw['recycle-connections'] = options.connThreshold;
  if (options.uptimeThreshold !== undefined) raw['recycle-age'] = uptimeToAge(options.uptimeThreshold);
  if (options.heartbeatInterval !== undefined) raw['ping-interval'] = cluster2Number(options.heartbeatInterval);
  if (options.maxHeartbeatDelay !== undefined) raw['hang-timeout'] = cluster2Number(options.maxHeartbeatDelay);
  else if (options.heartbeatInterval !== undefined && raw['hang-timeout'] === undefined) raw['hang-timeout'] = hangTimeoutFor(options.heartbeatInterval);
  if (options.ecv) {
    checkEcvKeys(options.ecv);
    raw['ecv-on-app-port'] = true;
    if (options.ecv.control !== undefined && raw['ecv-control'] === undefined) raw['ecv-control'] = options.ecv.control;
    if (options.ecv.monitor !== undefined && raw['ecv-monitor'] === undefined) raw['ecv-monitor'] = options.ecv.monitor;
    if (options.ecv.path !== undefined && options.ecv.path !== '/ecv') {
      throw usageError(`new Cluster(): ecv.path "${options.ecv.path}" is not supported; sockrun serves ECV at /ecv`);
    }
  }
  return raw;
}

/**
 * The Configuration a Cluster master runs with: `app` is this very script (process.argv[1])
 * with the same arguments, as cluster2's workers ran the master's script.
 */
export function clusterConfiguration(
  options: ClusterOptions,
  env: NodeJS.ProcessEnv,
  argv: string[],
  adoptingSockets: boolean,
  cwd = process.cwd(),
): Configuration {
  const script = argv[1];
  if (!script) throw usageError('Cluster.listen(): cannot tell which script to run in the workers (process.argv[1] is empty); run it as `node app.js`');
  try {
    return resolveConfiguration({}, env, toRawOptions(options, adoptingSockets, cwd), path.resolve(cwd, script), argv.slice(2));
  } catch (err) {
    // The resolver's check of the two, in cluster2's words (its options are what the app wrote).
    const both = /"hang-timeout" (\d+) must be longer than [^"]*"ping-interval" (\d+)/.exec((err as Error).message);
    if (both) throw usageError(`new Cluster(): maxHeartbeatDelay (${both[1]} ms) must be longer than heartbeatInterval (${both[2]} ms), or every worker looks hung`);
    throw err;
  }
}

function listenAddress(host: string | undefined, port: number | string): string {
  if (typeof port === 'string' && port.startsWith('/')) return `unix:${port}`; // listen('/path') in Node
  if (typeof port === 'string' && !/^\d+$/.test(port)) return port; // a full sockrun address
  if (host === undefined || host === '') return String(port);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A monitor app is an object or a function (an express app); a string there is a mistake the master warns about. */
function isApp(v: unknown): boolean {
  return typeof v === 'function' || (typeof v === 'object' && v !== null);
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
