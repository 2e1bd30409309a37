/**
 * Node flags for workers (`--node-args`, PM2's name; `SOCKRUN_NODE_ARGS`; "node-args" in the
 * config file): how the user's words become each worker's execArgv, and how an inspector flag
 * (`--inspect`, `--inspect-brk`, `--inspect-wait`, in --node-args or in NODE_OPTIONS, which
 * workers inherit) gives every worker its own port instead of all of them failing to bind one.
 *
 * Ports follow Node's cluster module: the base port stays with the master (NODE_OPTIONS applies
 * to it too), workers take base+1, base+2, … A worker takes the lowest such port no live worker
 * holds, so a replacement reuses the port of the worker it replaced once that one has exited;
 * during a make-before-break reload, old and new overlap, so up to 2×workers ports are in use.
 *
 * Pure: no I/O. The master calls workerNodeArgs() at each spawn.
 */
import { usageError } from '../errors';

/** Node's default inspector address (src/node_options.h: kDefaultInspectorPort). */
const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 9229;
/** Flags that start the inspector; `--inspect-port` (alias `--debug-port`) only sets its address. */
const ACTIVATE = ['--inspect', '--inspect-brk', '--inspect-wait'] as const;
const PORT_FLAGS = ['--inspect-port', '--debug-port'];

export type InspectFlag = (typeof ACTIVATE)[number];

/** The inspector the workers start, as Node would resolve it from NODE_OPTIONS and their command line. */
export interface Inspector {
  flag: InspectFlag;
  host: string;
  /** 0 = a random port for each worker (Node's own meaning). */
  port: number;
}

/** What the master spawns every worker with. */
export interface NodeArgs {
  /** The user's flags, in order, before sockrun's own `--require` and the app. */
  args: string[];
  inspector: Inspector | undefined;
}

/**
 * Splits one value into words the way a POSIX shell (and Node for NODE_OPTIONS) does:
 * whitespace separates, single and double quotes group, a backslash escapes the next character
 * (inside double quotes too). An unterminated quote is a usage error naming `what`.
 */
export function splitWords(text: string, what: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (c === '\\' && i + 1 < text.length && (quote === undefined || /["\\$`]/.test(text[i + 1]))) {
      word = (word ?? '') + text[++i];
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw usageError(`${what}: unterminated ${quote} in "${text}"`);
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * Node options that take their value as the next word (`--require ./tracing.js`); every other
 * value must be attached with "=". Without this list, a stray word would become the script Node
 * runs in place of the app.
 */
const VALUE_OPTIONS = new Set(['-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--env-file', '--env-file-if-exists', '--inspect-port', '--debug-port', '--title']);

/**
 * The `--node-args` words from every value given (each value is split with splitWords). Each
 * word must be a Node option (`--flag`, `--flag=value`), or the value after one of the few
 * options Node reads it from the next word for (VALUE_OPTIONS). Throws a usage error naming
 * `what` and the word.
 */
export function parseNodeArgs(values: readonly string[], what: string): string[] {
  const words = values.flatMap((v) => splitWords(v, what));
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === '--' || w === '-') throw usageError(`${what}: "${w}" is not a Node option (the app and its arguments come after the options)`);
    if (VALUE_OPTIONS.has(w)) {
      if (i + 1 === words.length) throw usageError(`${what}: ${w} needs a value`);
      i++;
    } else if (!w.startsWith('-')) {
      throw usageError(`${what}: "${w}" is not a Node option (give values with "=", e.g. --max-old-space-size=512)`);
    }
  }
  return words;
}

/** Node's SplitHostPort (src/node_options.cc): `port`, `host`, `host:port`, `[v6]`, `[v6]:port`. */
export function parseHostPort(value: string, what: string, base: { host: string; port: number }): { host: string; port: number } {
  if (value.startsWith('[') && value.endsWith(']')) return { host: value.slice(1, -1), port: base.port };
  const colon = value.lastIndexOf(':');
  if (colon < 0) return /^\d+$/.test(value) ? { host: base.host, port: checkPort(value, what) } : { host: value, port: base.port };
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? base.host : host, port: checkPort(value.slice(colon + 1), what) };
}

function checkPort(text: string, what: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || (port !== 0 && (port < 1024 || port > 65535))) {
    throw usageError(`${what}: inspector port "${text}" must be 0 or in 1024-65535`);
  }
  return port;
}

/**
 * The inspector workers would start with: NODE_OPTIONS first, then the --node-args words, the
 * later one winning (Node lets the command line override NODE_OPTIONS). Undefined when neither
 * activates it (`--inspect-port` alone only sets the address for a later SIGUSR1).
 */
export function findInspector(args: readonly string[], nodeOptions: string | undefined): Inspector | undefined {
  let flag: InspectFlag | undefined;
  let address = { host: DEFAULT_HOST, port: DEFAULT_PORT };
  const scan = (words: readonly string[], what: string) => {
    for (let i = 0; i < words.length; i++) {
      const [name, value] = splitOption(words[i]);
      if ((ACTIVATE as readonly string[]).includes(name)) {
        flag = name as InspectFlag;
        if (value !== undefined) address = parseHostPort(value, what, address);
      } else if (PORT_FLAGS.includes(name)) {
        const v = value ?? words[++i];
        if (v !== undefined) address = parseHostPort(v, what, address);
      }
    }
  };
  scan(splitWords(nodeOptions ?? '', 'NODE_OPTIONS'), 'NODE_OPTIONS');
  scan(args, '--node-args');
  return flag === undefined ? undefined : { flag, ...address };
}

function splitOption(word: string): [string, string | undefined] {
  const eq = word.indexOf('=');
  return eq < 0 ? [word, undefined] : [word.slice(0, eq), word.slice(eq + 1)];
}

/** Resolves the flags once, at start: the master then only calls workerNodeArgs(). */
export function planNodeArgs(args: readonly string[], nodeOptions: string | undefined): NodeArgs {
  return { args: [...args], inspector: findInspector(args, nodeOptions) };
}

/**
 * One worker's execArgv, and the inspector port it gets: the lowest of base+1, base+2, … that
 * no live worker holds (`taken`: their ports). `--inspect-port=` comes last, so it overrides
 * whatever NODE_OPTIONS or the user's flags said. Without an inspector: the user's flags as given.
 */
export function workerNodeArgs(plan: NodeArgs | undefined, taken: readonly (number | undefined)[]): { execArgv: string[]; inspectorPort: number | undefined } {
  if (!plan) return { execArgv: [], inspectorPort: undefined };
  const { inspector } = plan;
  if (!inspector || inspector.port === 0) return { execArgv: [...plan.args], inspectorPort: undefined };
  let port = inspector.port + 1;
  while (taken.includes(port)) port++;
  const host = inspector.host.includes(':') ? `[${inspector.host}]` : inspector.host;
  return { execArgv: [...plan.args, `--inspect-port=${host}:${port}`], inspectorPort: port };
}

/**
 * What a user debugging workers should know: a worker paused in the debugger stops pinging and
 * is killed as hung after --hang-timeout, and with --inspect-brk/--inspect-wait one that waits
 * for a debugger longer than --boot-timeout is killed as failing to boot.
 */
export function inspectorWarnings(plan: NodeArgs, timeouts: { bootTimeoutMs: number; hangTimeoutMs: number }): string[] {
  const { inspector } = plan;
  if (!inspector) return [];
  const out: string[] = [];
  if (inspector.flag !== '--inspect' && timeouts.bootTimeoutMs > 0) {
    out.push(`${inspector.flag}: each worker waits for a debugger before it runs the app; one that waits longer than --boot-timeout is killed (set --boot-timeout 0 while debugging)`);
  }
  if (timeouts.hangTimeoutMs > 0) {
    out.push('a worker paused in the debugger stops pinging and is killed as hung after --hang-timeout (set --hang-timeout 0 while debugging)');
  }
  return out;
}

/** Flags that make a Node line without built-in type stripping run TypeScript. */
const TYPESCRIPT_FLAGS = /^(--experimental-strip-types|--experimental-transform-types|--import|--require|-r|--loader|--experimental-loader)\b/;

/**
 * A one-line warning when the app is TypeScript and this Node does not strip types by itself
 * (before 22.18: `process.features.typescript` is false or absent) and no flag was given that
 * would: the workers would otherwise fail to boot with ERR_UNKNOWN_FILE_EXTENSION.
 */
export function typescriptWarning(app: string, args: readonly string[], stripsTypes: boolean, nodeVersion: string): string | undefined {
  if (!/\.[cm]?ts$/.test(app) || stripsTypes || args.some((a) => TYPESCRIPT_FLAGS.test(a))) return undefined;
  return `Node ${nodeVersion} does not run TypeScript by itself (22.18+, 24 and 26 do): give --node-args=--experimental-strip-types (22.6+) or --node-args=--import=tsx`;
}
