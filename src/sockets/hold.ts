/**
 * How the master holds listening sockets without ever accepting on them.
 *
 * DESIGN §3: if the master called listen() on a net.Server, its own event loop would accept
 * connections and strand them. So the master works with raw libuv handles (handles.ts) that no
 * event loop watches:
 *  - its own binds (`--listen`) are put in LISTEN at once, in the same tick as bind(2)
 *    (`listenUnpolled`): a second instance started while this one boots finds the address in
 *    use and exits PORT_BUSY, instead of binding too (libuv sets SO_REUSEADDR, and two such
 *    sockets may share an address until one listens) and racing it to the first listen()
 *    (issue 15 item 3). Connections that arrive before the first worker listens wait in the
 *    backlog, as during a respawn;
 *  - inherited descriptors (systemd, --fd) are only opened and checked (inherited.ts).
 * From then on the socket stays in LISTEN for as long as the master holds the fd, even with
 * every worker dead.
 */
import fs = require('node:fs');
import net = require('node:net');
import path = require('node:path');
import { getSystemErrorMap, getSystemErrorName } from 'node:util';
import { SockrunError, usageError } from '../errors';
import type { SharedAddress, SocketInfo } from '../protocol';
import { ListenAddress, findOverlap, formatAddress } from './address';
import { HandleSource, RawHandle, SockName, handles } from './handles';
import { PathIdentity, identify, linkIntoPlace, probeUnixPath, temporaryName, unlinkIfOurs } from './unix-path';

export type { RawHandle } from './handles';

/** A socket the master holds for the lifetime of the process. */
export interface HeldSocket extends SocketInfo {
  /** Where it came from, for logs and errors: `--listen 127.0.0.1:8080`, `systemd fd 3`, `--fd 3`. */
  source: string;
  /** The raw handle; keeping a reference keeps the fd open. Never polled. */
  handle: RawHandle;
  /** The unix socket file sockrun created: removed at exit while it is still this inode. */
  ownsPath?: PathIdentity;
}

export interface BindOptions {
  /** listen(2) backlog (--backlog). */
  backlog: number;
  /** Tests only: the handle source to exercise. */
  source?: HandleSource;
}

/**
 * Resolves every `--listen` host name first and refuses two addresses that would take the same
 * port (`8080` and `localhost:8080`) as a usage error, then binds and listens on each one.
 * A busy address is PORT_BUSY (exit 4), anything else BIND_FAILED (exit 5); either closes the
 * sockets bound so far.
 */
export async function bindAll(
  listen: { name: string | undefined; address: ListenAddress }[],
  options: BindOptions,
): Promise<Omit<HeldSocket, 'fd'>[]> {
  const resolved = await Promise.all(listen.map(async ({ name, address }) => ({ name, address, hosts: await resolveHosts(address) })));
  const overlap = findOverlap(resolved.map(({ address, hosts }) => (address.kind === 'tcp' && hosts[0] !== undefined ? { ...address, host: hosts[0] } : address)));
  if (overlap) {
    const [a, b] = overlap.map((i) => formatAddress(listen[i].address));
    throw usageError(a === b ? `--listen ${a} is given twice` : `--listen ${b} takes the same port as --listen ${a}`);
  }
  const held: Omit<HeldSocket, 'fd'>[] = [];
  try {
    for (const { name, address, hosts } of resolved) held.push(await bindSocket(address, hosts, name, options));
  } catch (err) {
    for (const s of held) releaseSocket(s);
    throw err;
  }
  return held;
}

/**
 * A host name resolves to its addresses in the resolver's order (as listen(port, host) picks the
 * first); an IP literal or the wildcard is itself.
 */
async function resolveHosts(address: ListenAddress): Promise<(string | undefined)[]> {
  if (address.kind === 'unix' || address.host === undefined || net.isIP(address.host)) return [address.kind === 'tcp' ? address.host : undefined];
  try {
    // Loaded only for a host name (~2 ms of start-up otherwise).
    const dns = require('node:dns') as typeof import('node:dns');
    return (await dns.promises.lookup(address.host, { all: true })).map((a) => a.address);
  } catch (err) {
    throw new SockrunError('SOCKRUN_ERR_BIND', `--listen ${formatAddress(address)}: cannot resolve ${address.host} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function bindSocket(address: ListenAddress, hosts: (string | undefined)[], name: string | undefined, options: BindOptions): Promise<Omit<HeldSocket, 'fd'>> {
  const label = `--listen ${formatAddress(address)}`;
  const source = options.source ?? handles;
  if (address.kind === 'unix') {
    const { handle, owned } = await bindUnix(address.path, label, options.backlog, source);
    return { source: label, handle, name: name ?? 'unknown', kind: 'unix', path: address.path, ownsPath: owned };
  }
  // A name with several addresses: the first one this machine can bind (::1 fails where IPv6 is off).
  let err = 0;
  for (const host of hosts) {
    const h = source.tcp(host, address.port);
    err = typeof h === 'number' ? h : listenUnpolled(h, options.backlog);
    if (err === 0) {
      const out: SockName = {};
      (h as RawHandle).getsockname!(out);
      return { source: label, handle: h as RawHandle, name: name ?? 'unknown', kind: 'tcp', host: out.address, port: out.port };
    }
    if (typeof h !== 'number') h.close();
    if (!['EADDRNOTAVAIL', 'EAFNOSUPPORT'].includes(getSystemErrorName(err))) break;
  }
  throw bindError(err, label);
}

/**
 * A unix socket appears at its path already listening (bound at a temporary name, then linked
 * into place: unix-path.ts), so a path that refuses connections is a leftover of a crash: it is
 * removed if it is a socket of this user. A path that accepts connections is busy. Anything else
 * at the path is never touched, at start or at exit.
 */
async function bindUnix(p: string, label: string, backlog: number, source: HandleSource): Promise<{ handle: RawHandle; owned: PathIdentity }> {
  const dir = path.dirname(p);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new SockrunError('SOCKRUN_ERR_BIND', `${label}: cannot create the directory ${dir} (${(err as NodeJS.ErrnoException).code})`);
  }
  // A path too long for a temporary name beside it is bound in place (libuv unlinks it at close).
  const temp = temporaryName(p);
  for (let attempt = 0; ; attempt++) {
    const h = source.unix(temp ?? p);
    const err = typeof h === 'number' ? h : listenUnpolled(h, backlog);
    if (err === 0 && temp === undefined) return { handle: h as RawHandle, owned: identify(p) };
    if (err === 0) {
      const result = await linkIntoPlace(temp!, p);
      if ('placed' in result) return { handle: h as RawHandle, owned: result.placed };
      (h as RawHandle).close();
      throw pathError(result.blocked, p, label);
    }
    if (typeof h !== 'number') h.close();
    if (temp !== undefined || getSystemErrorName(err) !== 'EADDRINUSE' || attempt > 0) throw bindError(err, label);
    const found = await probeUnixPath(p);
    if (found.kind === 'live' || found.kind === 'other') throw pathError(found, p, label);
    if (found.kind === 'stale') unlinkIfOurs(found.identity);
  }
}

function pathError(found: { kind: 'live' } | { kind: 'other'; why: string }, p: string, label: string): SockrunError {
  if (found.kind === 'live') return new SockrunError('SOCKRUN_ERR_PORT_BUSY', `${label}: address already in use (something listens on ${p})`);
  return new SockrunError('SOCKRUN_ERR_BIND', `${label}: ${p} ${found.why}; not removing it`);
}

/**
 * listen(2) on a raw handle without its event loop ever watching the socket.
 *
 * libuv's uv_listen() calls listen(2) and then registers the descriptor with the loop, to accept
 * on the next turn. uv_read_stop() deregisters a stream's descriptor (uv__io_stop, POLLIN), and
 * applies only to a handle in the reading state, which needs a readable stream: so the handle
 * is opened on its own descriptor (uv_tcp_open/uv_pipe_open mark it readable), listens, starts
 * and stops reading, all in one synchronous turn. The loop never sees the descriptor; the kernel
 * queues connections until a worker accepts. Checked on Node 20, 22, 24 and 26 by
 * test/integration/ports.test.ts ("connections wait in the backlog ... answered by a worker").
 * Returns 0 or a negative errno (EADDRINUSE when another socket took the address first).
 */
export function listenUnpolled(h: RawHandle, backlog: number): number {
  let err = h.open(h.fd);
  if (err === 0) err = h.listen(backlog);
  if (err !== 0) return err;
  h.onconnection = strayConnection;
  err = h.readStart();
  if (err === 0) err = h.readStop();
  // A Node whose libuv no longer allows this would leave the master accepting: never run like that.
  if (err !== 0) h.close();
  if (err !== 0) throw new Error(`cannot hold a listening socket without polling it on Node ${process.version} (${getSystemErrorName(err)})`);
  return 0;
}

/** Never called (nothing polls the socket); if it were, the connection is closed rather than stranded. */
function strayConnection(_status: number, client?: { close(): void }): void {
  client?.close();
  process.stderr.write('sockrun: internal error: the master accepted a connection on an app socket; it was closed\n');
}

/**
 * Binds an app server's own address for sockets/shared.ts: bound, not listening (the worker that
 * receives it listens). Returns the errno name (EADDRINUSE, EACCES…) instead of throwing: the
 * worker that asked gets it as its server's 'error'. A unix path that exists is EADDRINUSE, as
 * for Node's own listen(): sockrun removes no file it did not create.
 */
export function bindShared(address: SharedAddress): { handle: RawHandle; host?: string; port?: number } | { error: string } {
  if (address.kind === 'unix') {
    if (fs.existsSync(address.path)) return { error: 'EADDRINUSE' };
    const h = handles.unix(address.path);
    return typeof h === 'number' ? { error: getSystemErrorName(h) } : { handle: h };
  }
  const h = handles.tcp(address.host, address.port);
  if (typeof h === 'number') return { error: getSystemErrorName(h) };
  // libuv defers EADDRINUSE from bind() to listen(); getsockname() reports it now.
  const out: SockName = {};
  const err = h.getsockname!(out);
  if (err < 0) {
    h.close();
    return { error: getSystemErrorName(err) };
  }
  return { handle: h, host: out.address, port: out.port };
}

/** Closes a held socket and removes the unix socket file sockrun created, while it is still ours. */
export function releaseSocket(s: Omit<HeldSocket, 'fd'>): void {
  s.handle.close();
  if (s.ownsPath) unlinkIfOurs(s.ownsPath);
}

/** The socket as a worker sees it (no handle). */
export function socketInfo(s: HeldSocket): SocketInfo {
  const { fd, name, kind, port, host, path: p } = s;
  return { fd, name, kind, port, host, path: p };
}

function bindError(err: number, label: string): SockrunError {
  const name = getSystemErrorName(err);
  if (name === 'EADDRINUSE') return new SockrunError('SOCKRUN_ERR_PORT_BUSY', `${label}: address already in use`);
  return new SockrunError('SOCKRUN_ERR_BIND', `${label}: cannot bind (${name}: ${getSystemErrorMap().get(err)?.[1] ?? ''})`);
}

/** One socket for the log: `name=host:port (source)` or `name=unix:path (source)`. */
export function describeSocket(s: HeldSocket): string {
  // An inherited unix socket from another network namespace has no known path (sockets/inherited.ts).
  return `${s.name}=${s.kind === 'unix' ? `unix:${s.path ?? '(path unknown)'}` : `${s.host}:${s.port}`} (${s.source})`;
}
