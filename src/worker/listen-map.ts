import net = require('node:net');
import type { SharedAddress, SocketInfo } from '../protocol';

/**
 * The listen rule (README, "The listen rule"; issue 12 item 5): where an app's `listen(...)` goes
 * in a sockrun worker. First matching row wins; the README has the same table and
 * test/unit/listen-map.test.ts checks every row.
 *
 * | #  | the app calls                                                                  | main thread                          | worker thread |
 * |----|--------------------------------------------------------------------------------|--------------------------------------|---------------|
 * | 1  | `listen({fd})` of an inherited socket (`sockrun.socket(name)`)                  | that socket                          | Node          |
 * | 2  | another fd, a handle, port 0 or none (`listen()`, `listen(0, '127.0.0.1')`)     | Node, untouched: this process's own  | Node          |
 * | 3  | a name (`'http'`, `{name: 'http'}`) of an inherited socket                      | that socket                          | error         |
 * | 4  | a path of an inherited unix socket                                             | that socket                          | error         |
 * | 5  | another path (with a `/`)                                                      | that path, shared                    | shared        |
 * | 6  | any other string                                                               | error: no socket of that name        | error         |
 * | 7  | a host and port equal to an inherited socket's                                 | that socket                          | error         |
 * | 8  | an explicit host on the port of an inherited all-interfaces socket             | error: the public port is taken      | error         |
 * | 9  | an explicit host (`127.0.0.1`, `::1`, `10.0.0.5`, `localhost`)                  | that address, shared                 | shared        |
 * | 10 | an inherited socket's port, no host or `0.0.0.0`/`::`: `listen(process.env.PORT)` | that socket                        | error         |
 * | 11 | another port, exactly one inherited socket, not served yet: `listen(3000)`     | that socket (drop-in)                | —             |
 * | 12 | the same, from the app's own `cluster` workers                                 | error: cluster checks the port       | —             |
 * | 13 | another port, the one socket taken by row 11                                   | error: which one is public?          | —             |
 * | 14 | another port, every inherited socket served                                    | that port, all interfaces, shared    | shared        |
 * | 15 | another port otherwise                                                         | error: matches none of the sockets   | —             |
 *
 * "Shared": the master binds the address on demand and hands it to every worker that asks, as it
 * hands out the inherited sockets, so N workers (and the old and new generation during a reload)
 * all accept on it, as under Node's cluster or PM2. With `exclusive: true` (Node's "do not
 * share") a shared address is bound by this process instead. `reusePort` changes nothing.
 *
 * Why master-held sockets and not `reusePort` (SO_REUSEPORT, Node 22.12+/23.1+) for these:
 *  - Node 22.0–22.11 ignore the option (it came in 22.12; DESIGN §3 saw Node 20 ignore it
 *    silently), so the second worker would fail with EADDRINUSE on a supported line;
 *  - each SO_REUSEPORT socket has its own accept queue: what waits at a worker that exits
 *    (crash, drain, reload) is reset. Measured on Node 22.23 and 24.22, two servers on
 *    127.0.0.1, one blocked 1.5 s then exiting, 200 new connections meanwhile: 91 reset with
 *    reusePort; 0 of 200 with sockrun's shared socket (two workers, one blocked then exiting),
 *    whose one queue the other worker drains;
 *  - any process of the same user can bind the same port with SO_REUSEPORT and silently take a
 *    share of the connections.
 */

/** A listen() call, normalized from Node's call shapes (`net.Server#listen` documentation). */
export interface ListenCall {
  /** `listen({fd})`. */
  fd?: number;
  /** `listen(handle)`, `listen({handle})`, `listen(server)`. */
  handle?: boolean;
  /** A port; 0 when none was given (Node: an ephemeral port). */
  port?: number;
  /** The host as given; undefined when none (or empty). */
  host?: string;
  /** A string that is not a port (`listen('/run/x.sock')`, `listen('http')`), or `{path}`. */
  path?: string;
  /** `{name}`: sockrun's own option, the API's way to name a socket. */
  name?: string;
  exclusive?: boolean;
  backlog?: number;
  callback?: () => void;
}

/** Who already serves an inherited socket in this worker, by fd: the call, and whether row 11 gave it. */
export type Taken = ReadonlyMap<number, { call: string; dropIn: boolean }>;

export type ListenTarget =
  | { to: 'inherited'; socket: SocketInfo; dropIn: boolean }
  | { to: 'shared'; address: SharedAddress }
  | { to: 'node' };

/** A listen() the rule cannot satisfy. `code` is stable; the message names the row and the fix. */
export class ListenRuleError extends Error {
  readonly code = 'SOCKRUN_ERR_LISTEN_RULE';
  constructor(message: string) {
    super(`sockrun: ${message} (sockrun's listen rule, README "The listen rule")`);
    this.name = 'ListenRuleError';
  }
}

/** Normalizes `server.listen(...)` arguments the way Node reads them. */
export function parseListenCall(args: unknown[]): ListenCall {
  const last = args[args.length - 1];
  const callback = typeof last === 'function' ? (last as () => void) : undefined;
  const rest = callback ? args.slice(0, -1) : args;
  const [first, second, third] = rest;
  if (first !== null && typeof first === 'object') {
    const o = first as Record<string, unknown>;
    if (typeof o.fd === 'number') return { fd: o.fd, backlog: num(o.backlog), callback };
    // A handle (TCP/Pipe wrap), `{handle}`, `{_handle}` or a net.Server: Node's business.
    if (o.handle !== undefined || o._handle !== undefined || typeof o.getAsyncId === 'function') return { handle: true, callback };
    const call: ListenCall = { exclusive: o.exclusive === true, backlog: num(o.backlog), callback };
    if (typeof o.name === 'string') call.name = o.name;
    else if (typeof o.path === 'string') call.path = o.path;
    else {
      call.port = toPort(o.port);
      call.host = typeof o.host === 'string' && o.host !== '' ? o.host : undefined;
    }
    return call;
  }
  if (typeof first === 'string' && !/^\s*\d+\s*$/.test(first)) return { path: first, backlog: num(second), callback };
  return {
    port: toPort(first),
    host: typeof second === 'string' && second !== '' ? second : undefined,
    backlog: num(typeof second === 'string' ? third : second),
    callback,
  };
}

/**
 * The rule itself (table above). `thread`: the call comes from a worker thread, which never
 * takes an inherited socket. `taken`: the inherited sockets this worker's servers already
 * listen on. `ownCluster`: this process is the primary of the app's own `cluster` workers, whose
 * listen() reaches here through Node's round-robin handle. Throws ListenRuleError for the rows
 * that say "error".
 */
export function mapListen(
  call: ListenCall,
  sockets: readonly SocketInfo[],
  { thread = false, taken = new Map() as Taken, ownCluster = false } = {},
): ListenTarget {
  const asked = describeCall(call);
  const inherited = (socket: SocketInfo, row: string, dropIn = false): ListenTarget => {
    if (thread) {
      throw new ListenRuleError(`${asked} in a worker thread would take the inherited socket ${describeSocket(socket)} (${row}); ` +
        'a worker thread never serves the public socket: listen on it from the main thread, or give the thread\'s server its own address');
    }
    const by = taken.get(socket.fd);
    if (by) throw new ListenRuleError(`${asked} maps to ${describeSocket(socket)} (${row}), which the server that called ${by.call} already listens on`);
    return { to: 'inherited', socket, dropIn };
  };
  const shared = (address: SharedAddress): ListenTarget => (call.exclusive ? { to: 'node' } : { to: 'shared', address });

  // Rows 1–2: descriptors and handles; port 0 asks for "any port", which no other worker could address.
  if (call.fd !== undefined) {
    const own = thread ? undefined : sockets.find((s) => s.fd === call.fd);
    return own ? inherited(own, 'by descriptor') : { to: 'node' };
  }
  if (call.handle) return { to: 'node' };

  // Rows 3–6: names and unix paths.
  const key = call.name ?? call.path;
  if (key !== undefined) {
    const named = sockets.find((s) => s.name === key);
    if (named) return inherited(named, 'by name');
    if (call.name === undefined) {
      const samePath = sockets.find((s) => s.kind === 'unix' && s.path === key);
      if (samePath) return inherited(samePath, 'by unix path');
      if (key.includes('/')) return shared({ kind: 'unix', path: key });
    }
    throw new ListenRuleError(`${asked}: no inherited socket is named "${key}" (have: ${list(sockets)}); ` +
      `a relative unix socket path needs a "/" (./${key})`);
  }

  const port = call.port ?? 0;
  if (port === 0) return { to: 'node' };
  const tcp = sockets.filter((s) => s.kind === 'tcp');
  const onPort = tcp.filter((s) => s.port === port);

  // Rows 7–9: an explicit address keeps it; it is never moved onto a public socket.
  if (call.host !== undefined && !isWildcard(call.host)) {
    const same = onPort.find((s) => s.host !== undefined && sameHost(s.host, call.host!));
    if (same) return inherited(same, 'same address');
    const wide = onPort.find((s) => s.host === undefined || isWildcard(s.host));
    if (wide) {
      throw new ListenRuleError(`${asked}: port ${port} is the inherited socket ${describeSocket(wide)}, on all interfaces; ` +
        'a server bound to its own address is never put on the public socket: choose another port for it');
    }
    return shared({ kind: 'tcp', host: call.host, port });
  }

  // Rows 10–14: a port alone (or on all interfaces).
  if (onPort.length > 0) return inherited(onPort[0], 'by port');
  if (thread) return shared({ kind: 'tcp', port });
  if (sockets.length === 1) {
    const by = taken.get(sockets[0].fd);
    if (!by && ownCluster) {
      // Node's cluster worker checks that the socket it gets is on the port it asked for
      // (checkBindError in lib/net.js) and fails with EADDRINUSE otherwise.
      throw new ListenRuleError(`${asked} from the app's own cluster workers: the only inherited socket ${describeSocket(sockets[0])} ` +
        `is on another port, and Node's cluster workers accept only the port they asked for; listen on process.env.PORT ` +
        `(${portOrPath(sockets[0])}), or give sockrun that port (--listen ${port})`);
    }
    if (!by) return inherited(sockets[0], 'the only inherited socket, drop-in', true);
    if (by.dropIn) {
      throw new ListenRuleError(`${asked}: the only inherited socket ${describeSocket(sockets[0])} already went to the server that ` +
        `called ${by.call} (neither is on its port, so either could be the public one); make the public server listen on ` +
        `process.env.PORT (${portOrPath(sockets[0])}), or give this one a host, e.g. listen(${port}, '127.0.0.1')`);
    }
  }
  if (sockets.every((s) => taken.has(s.fd))) return shared({ kind: 'tcp', port });
  throw new ListenRuleError(`${asked} matches none of the inherited sockets: ${list(sockets)}; listen on one of those ports ` +
    `or names (process.env.PORT is the first), or give an internal server its own host, e.g. listen(${port}, '127.0.0.1')`);
}

export function describeSocket(s: SocketInfo): string {
  const where = s.kind === 'unix' ? `unix:${s.path ?? '?'}` : `${s.host ?? '*'}:${s.port ?? '?'}`;
  return `${s.name} (fd ${s.fd}, ${where})`;
}

/** `listen(9100, '127.0.0.1')`, `listen('/run/x.sock')`, `listen({fd: 3})`: for messages. */
export function describeCall(call: ListenCall): string {
  if (call.fd !== undefined) return `listen({fd: ${call.fd}})`;
  if (call.handle) return 'listen(handle)';
  if (call.name !== undefined) return `listen({name: '${call.name}'})`;
  if (call.path !== undefined) return `listen('${call.path}')`;
  return call.host === undefined ? `listen(${call.port ?? ''})` : `listen(${call.port ?? 0}, '${call.host}')`;
}

/** The value of PORT for workers: the first socket's port, or its path (iisnode's convention). */
export function portOrPath(s: SocketInfo): string {
  return s.kind === 'unix' ? s.path ?? '' : String(s.port ?? '');
}

function list(sockets: readonly SocketInfo[]): string {
  return sockets.length ? sockets.map(describeSocket).join(', ') : 'none';
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || (net.isIPv6(host) && /^[0:]+$/.test(host));
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => h.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return norm(a) === norm(b);
}

function toPort(v: unknown): number {
  const n = Number(v ?? 0);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : 0;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
