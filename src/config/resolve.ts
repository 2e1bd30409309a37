import fs = require('node:fs');
import { usageError } from '../errors';
import { ListenAddress, overlaps, parseListenAddress } from '../sockets/address';
import { InheritedFd, parseFdOption } from '../sockets/listen-fds';
import { parseNodeArgs } from './node-args';
import { OPTIONS, OptionName, OptionSpec, envName } from './options';
import { parseCount, parseDuration, parseSize } from './units';

/** What the master runs with: every default resolved, every value parsed and checked. */
export interface Configuration {
  app: string;
  appArgs: string[];
  /** `auto` resolves later against the CPUs this process may use. */
  workers: number | 'auto';
  /** Node flags for every worker (node-args.ts), before sockrun's own and the app. */
  nodeArgs: string[];
  listen: { name: string | undefined; address: ListenAddress }[];
  fds: InheritedFd[];
  backlog: number;
  pidFile: string | undefined;
  logLevel: string;
  logFormat: 'json' | 'pretty' | undefined;
  controlSocket: string | undefined;
  bootTimeoutMs: number;
  settleMs: number;
  /** New workers booting at once in a reload; `workers` count when "all". */
  reloadSurge: number | 'all';
  cwd: string | undefined;
  drainDelayMs: number;
  gracefulTimeoutMs: number;
  hangTimeoutMs: number;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  recycle: { connections: number; requests: number; memoryBytes: number; ageMs: number; jitterMs: number };
  admin: ListenAddress | undefined;
  adminTokenFile: string | undefined;
  minReady: number | undefined;
  ecvControl: boolean;
  ecvMonitor: string | undefined;
  ecvMonitorIntervalMs: number;
  ecvMonitorTimeoutMs: number;
  validator: string | undefined;
  ecvOnAppPort: boolean;
  /** How often workers push the app's metrics to the master (only with --admin). */
  metricsIntervalMs: number;
}

export type RawValue = string | number | boolean | (string | number)[] | undefined;
export type RawOptions = Partial<Record<OptionName, RawValue>>;

/**
 * Merges the three sources (command line > SOCKRUN_* environment > config file > default)
 * and parses every value. Any bad value is a usage error naming the option and its source.
 */
export function resolveConfiguration(
  cli: RawOptions,
  env: NodeJS.ProcessEnv,
  file: RawOptions,
  app: string,
  appArgs: string[],
): Configuration {
  const raw = {} as Record<OptionName, { value: RawValue; source: string }>;
  for (const name of Object.keys(OPTIONS) as OptionName[]) {
    const spec: OptionSpec = OPTIONS[name];
    const fromEnv = env[envName(name)];
    if (cli[name] !== undefined && !(Array.isArray(cli[name]) && (cli[name] as unknown[]).length === 0)) {
      raw[name] = { value: cli[name], source: `--${name}` };
    } else if (fromEnv !== undefined && fromEnv !== '') {
      raw[name] = { value: spec.kind === 'list' ? fromEnv.split(/[\s,]+/).filter(Boolean) : fromEnv, source: envName(name) };
    } else if (file[name] !== undefined) {
      raw[name] = { value: file[name], source: `config "${name}"` };
    } else {
      raw[name] = { value: spec.default, source: `default of --${name}` };
    }
  }
  const get = <T>(name: OptionName, parse: (v: RawValue, what: string) => T): T => parse(raw[name].value, raw[name].source);
  const duration = (n: OptionName) => get(n, (v, what) => parseDuration(scalar(v, what), what));
  const count = (n: OptionName) => get(n, (v, what) => parseCount(scalar(v, what), what));
  const str = (n: OptionName) => get(n, (v, what) => (v === undefined ? undefined : String(scalar(v, what))));
  const bool = (n: OptionName) => get(n, (v, what) => parseBoolean(v, what));
  const list = (n: OptionName) => get(n, (v) => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String)));
  const choice = <T extends string>(n: OptionName): T | undefined => {
    const v = str(n);
    const choices = (OPTIONS[n] as OptionSpec).choices;
    if (v !== undefined && choices && !choices.includes(v)) {
      throw usageError(`${raw[n].source}: "${v}" is not one of ${choices.join(', ')}`);
    }
    return v as T | undefined;
  };

  const workersText = String(scalar(raw.workers.value, raw.workers.source)).trim();
  const workers = workersText === 'auto' ? 'auto' : parseCount(workersText, raw.workers.source);
  const minReadyText = str('min-ready');
  const surge = String(str('reload-surge')).trim();
  if (surge === '0') throw usageError(`${raw['reload-surge'].source}: 0 would never boot a new worker; give "all" or a number ≥ 1`);
  const adminText = str('admin');
  const nodeArgs = parseNodeArgs(list('node-args'), raw['node-args'].source);
  if (workers === 0 && nodeArgs.length > 0) {
    throw usageError(`${raw['node-args'].source} needs worker processes: with --workers 0 the app runs in sockrun's own process; give the flags to node (node FLAGS node_modules/.bin/sockrun …) or NODE_OPTIONS`);
  }

  const admin = adminText === undefined ? undefined : parseListenAddress(adminText).address;
  const listen = list('listen').map(parseListenAddress);
  // The master binds app sockets without listening (sockets/hold.ts), so an admin server on the
  // same port would take it first and every worker would fail to boot: refuse it here.
  const clash = admin && listen.find(({ address: a }) => overlaps(a, admin));
  if (clash) throw usageError(`--admin ${adminText} is also a --listen address: give the admin port its own`);
  // Single-process mode has no master beside the app to answer probes: never ignore --admin silently.
  if (workers === 0 && admin) throw usageError(`--admin needs workers: with --workers 0 the app runs in sockrun's own process, without an admin port (use --workers 1)`);
  const hangTimeoutMs = duration('hang-timeout');
  const pingIntervalMs = Math.max(50, duration('ping-interval'));
  // Workers report once per interval: a timeout not longer than that kills healthy workers.
  if (hangTimeoutMs > 0 && hangTimeoutMs <= pingIntervalMs) {
    throw usageError(`${raw['hang-timeout'].source} ${String(raw['hang-timeout'].value)} must be longer than ${raw['ping-interval'].source} ${String(raw['ping-interval'].value)} (0 turns hang detection off)`);
  }

  return {
    app,
    appArgs,
    workers,
    nodeArgs,
    listen,
    fds: list('fd').map(parseFdOption),
    backlog: count('backlog'),
    pidFile: str('pid-file'),
    logLevel: choice('log-level') ?? 'info',
    logFormat: choice<'json' | 'pretty'>('log-format'),
    controlSocket: str('control-socket'),
    bootTimeoutMs: duration('boot-timeout'),
    settleMs: duration('settle'),
    reloadSurge: surge === 'all' ? 'all' : parseCount(surge, raw['reload-surge'].source),
    cwd: str('cwd'),
    drainDelayMs: duration('drain-delay'),
    gracefulTimeoutMs: duration('graceful-timeout'),
    hangTimeoutMs,
    pingIntervalMs,
    idleTimeoutMs: duration('idle-timeout'),
    recycle: {
      connections: count('recycle-connections'),
      requests: count('recycle-requests'),
      memoryBytes: get('recycle-memory', (v, what) => parseSize(scalar(v, what), what)),
      ageMs: duration('recycle-age'),
      jitterMs: duration('recycle-jitter'),
    },
    admin,
    adminTokenFile: str('admin-token-file'),
    minReady: minReadyText === undefined ? undefined : parseCount(minReadyText, raw['min-ready'].source),
    ecvControl: bool('ecv-control'),
    ecvMonitor: str('ecv-monitor'),
    ecvMonitorIntervalMs: duration('ecv-monitor-interval'),
    ecvMonitorTimeoutMs: duration('ecv-monitor-timeout'),
    validator: str('validator'),
    ecvOnAppPort: bool('ecv-on-app-port'),
    metricsIntervalMs: Math.max(100, duration('metrics-interval')),
  };
}

/**
 * Reads a JSON config file: an object whose keys are option names (`"drain-delay": "5s"`;
 * camelCase such as `drainDelay` is accepted too). Unknown keys are errors, not silently ignored.
 */
export function readConfigFile(path: string): RawOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (err) {
    throw usageError(`--config ${path}: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw usageError(`--config ${path}: expected a JSON object of options`);
  }
  const out: RawOptions = {};
  for (const [key, value] of Object.entries(parsed)) {
    const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) as OptionName;
    if (!(name in OPTIONS)) throw usageError(`--config ${path}: unknown option "${key}"`);
    out[name] = value as RawValue;
  }
  return out;
}

function scalar(v: RawValue, what: string): string | number {
  if (Array.isArray(v)) {
    if (v.length === 1) return v[0];
    throw usageError(`${what}: given more than once`);
  }
  if (v === undefined || typeof v === 'boolean') throw usageError(`${what}: a value is required`);
  return v;
}

function parseBoolean(v: RawValue, what: string): boolean {
  if (typeof v === 'boolean') return v;
  const s = String(scalar(v, what)).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  throw usageError(`${what}: "${v}" is not a boolean (true/false)`);
}
