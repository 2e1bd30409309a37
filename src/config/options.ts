/**
 * Every `sockrun run` option, in one table: the CLI (yargs), `SOCKRUN_<NAME>` environment
 * variables and the `--config` file are all read through it, with this precedence:
 * command line > environment > config file > default.
 */
/** `args`: words for another program, split like a shell (quotes group); repeatable. */
export type OptionKind = 'count' | 'duration' | 'size' | 'string' | 'boolean' | 'list' | 'args';

export interface OptionSpec {
  kind: OptionKind;
  describe: string;
  alias?: string;
  /** Default as the user would write it (parsed like any other input). */
  default?: string | number | boolean;
  choices?: readonly string[];
  group?: string;
}

const SOCKETS = 'Sockets:';
const WORKERS = 'Workers:';
const LIFECYCLE = 'Lifecycle:';
const ADMIN = 'Admin port, health and ECV:';
const LOGGING = 'Process and logging:';

export const OPTIONS = {
  workers: {
    kind: 'string', alias: 'w', group: WORKERS, default: 'auto',
    describe: 'Worker processes: a number, or "auto" = the CPUs this process may use (cgroup quota, affinity). 0 = single process.',
  },
  'node-args': {
    kind: 'args', group: WORKERS,
    describe: 'Node flags for every worker, e.g. --node-args="--max-old-space-size=512 --enable-source-maps". --inspect gives each worker its own port (base+1, +2, …).',
  },
  listen: {
    kind: 'list', alias: 'l', group: SOCKETS,
    describe: 'Bind a socket: PORT, HOST:PORT, [V6]:PORT or unix:/path; name=ADDR names it. Repeatable.',
  },
  fd: { kind: 'list', group: SOCKETS, describe: 'Use an inherited listening socket: N or N:name. Repeatable.' },
  backlog: { kind: 'count', group: SOCKETS, default: 511, describe: 'listen(2) backlog for sockets sockrun binds.' },
  'pid-file': { kind: 'string', group: LOGGING, describe: 'Write the master pid here (removed at exit).' },
  'log-level': {
    kind: 'string', group: LOGGING, default: 'info',
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], describe: 'Master log level.',
  },
  'log-format': {
    kind: 'string', group: LOGGING, choices: ['json', 'pretty'],
    describe: 'Master log format (default: pretty on a TTY, JSON otherwise).',
  },
  'control-socket': {
    kind: 'string', group: LOGGING,
    describe: 'Unix socket for `sockrun reload|shutdown|stop|status` (default: $RUNTIME_DIRECTORY or the temp dir, sockrun-<pid>.sock).',
  },
  settle: {
    kind: 'duration', group: LIFECYCLE, default: '2s', alias: 'reload-settle',
    describe: 'A new worker counts as booted only after it listened and then stayed alive this long (start, reload, recycle, respawn). No old worker drains before its replacement is booted.',
  },
  'reload-surge': {
    kind: 'string', group: LIFECYCLE, default: 'all',
    describe: 'New workers booting at once during a reload: "all" (the old generation stays whole until the new one is booted; an aborted reload leaves only the old one) or N (less memory: N extra workers at a time).',
  },
  cwd: {
    kind: 'string', group: WORKERS,
    describe: 'Directory the workers run in, resolved again at every reload (follow a `current -> releases/N` symlink). Default: the shell\'s $PWD, else the working directory.',
  },
  'boot-timeout': { kind: 'duration', group: LIFECYCLE, default: '30s', describe: 'A worker must listen within this long after spawn.' },
  'drain-delay': {
    kind: 'duration', group: LIFECYCLE, default: '0s',
    describe: 'On SIGTERM: report not-ready, keep serving this long, then drain (set to > probe period + endpoint propagation in Kubernetes).',
  },
  'graceful-timeout': { kind: 'duration', group: LIFECYCLE, default: '30s', describe: 'Workers still busy this long after a drain starts are killed.' },
  'hang-timeout': { kind: 'duration', group: LIFECYCLE, default: '30s', describe: 'A worker whose event loop is blocked this long is killed and replaced. 0 = off.' },
  'ping-interval': { kind: 'duration', group: LIFECYCLE, default: '1s', describe: 'How often workers report stats to the master.' },
  'idle-timeout': { kind: 'duration', group: LIFECYCLE, default: '30s', describe: 'End connections idle this long (cluster2 `timeout`). 0 = off.' },
  'recycle-connections': { kind: 'count', group: LIFECYCLE, default: 0, describe: 'Replace a worker after it accepted this many connections (cluster2 connThreshold). 0 = off.' },
  'recycle-requests': { kind: 'count', group: LIFECYCLE, default: 0, describe: 'Replace a worker after this many HTTP requests. 0 = off.' },
  'recycle-memory': { kind: 'size', group: LIFECYCLE, default: 0, describe: 'Replace a worker whose RSS exceeds this (e.g. 512M). 0 = off.' },
  'recycle-age': { kind: 'duration', group: LIFECYCLE, default: '0s', describe: 'Replace a worker older than this (e.g. 6h). 0 = off.' },
  'recycle-jitter': { kind: 'duration', group: LIFECYCLE, default: '0s', describe: 'Random extra (up to this, or 10% of the limit when 0) so workers do not recycle together.' },
  admin: { kind: 'string', group: ADMIN, describe: 'Serve /livez /readyz /healthz /metrics /ecv here: PORT, HOST:PORT or unix:/path.' },
  'admin-token-file': { kind: 'string', group: ADMIN, describe: 'File holding the bearer token that state-changing admin requests must carry.' },
  'min-ready': { kind: 'string', group: ADMIN, describe: 'Workers of the current generation that must listen for /readyz to pass (default: all).' },
  'ecv-control': { kind: 'boolean', group: ADMIN, default: true, describe: 'Offer POST /ecv/enable and /ecv/disable (cluster2 ecv.control).' },
  'ecv-monitor': { kind: 'string', group: ADMIN, describe: 'Path the master GETs through the app socket; ready only on 2xx (cluster2 ecv.monitor).' },
  'ecv-monitor-interval': { kind: 'duration', group: ADMIN, default: '5s', describe: 'How often to run the --ecv-monitor and --validator checks.' },
  'ecv-monitor-timeout': { kind: 'duration', group: ADMIN, default: '2s', describe: 'A check slower than this fails.' },
  validator: { kind: 'string', group: ADMIN, describe: 'Module exporting an async function; readiness fails with its error.' },
  'metrics-interval': {
    kind: 'duration', group: ADMIN, default: '1s',
    describe: 'How often workers push the app\'s prom-client metrics to the master (with --admin); a scrape shows values at most this old.',
  },
  'ecv-on-app-port': { kind: 'boolean', group: ADMIN, default: false, describe: 'Also answer GET /ecv on the app port, from the workers (as cluster2 did).' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** `drain-delay` → `SOCKRUN_DRAIN_DELAY`. */
export const envName = (option: string): string => `SOCKRUN_${option.toUpperCase().replace(/-/g, '_')}`;
