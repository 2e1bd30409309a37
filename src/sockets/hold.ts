/**
 * How the master holds listening sockets without ever accepting on them.
 *
 * DESIGN §3: if the master called listen() on a net.Server, its own event loop would accept
 * connections and strand them. So the master works with libuv's raw TCP/Pipe handles:
 *  - its own binds are bound but never listen()ed here; the first worker's
 *    `server.listen({fd})` moves the shared socket into LISTEN, and from then on the socket
 *    stays in LISTEN for as long as the master holds the fd, even with every worker dead
 *    (connections wait in the backlog during a respawn);
 *  - inherited descriptors (systemd, --fd) are only opened, to read their address.
 * Neither registers the fd with the event loop, so the master never polls it.
 *
 * This is the only module that touches Node's internal bindings (`process.binding`).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as util from 'node:util';
import { SockrunError } from '../errors';
import type { SharedAddress, SocketInfo } from '../protocol';
import { ListenAddress, formatAddress } from './address';
import type { InheritedFd } from './listen-fds';

export interface RawHandle {
  fd: number;
  bind(address: string, port: number): number;
  bind6?(address: string, port: number, flags: number): number;
  open(fd: number): number;
  getsockname?(out: { address?: string; port?: number; family?: string }): number;
  close(cb?: () => void): void;
}

type Binding = { [name: string]: new (type: number) => RawHandle } & { constants: Record<string, number> };
const binding = (name: string): Binding => (process as unknown as { binding(n: string): Binding }).binding(name);
const tcpWrap = binding('tcp_wrap');
const pipeWrap = binding('pipe_wrap');

/** A socket the master holds for the lifetime of the process. */
export interface HeldSocket extends SocketInfo {
  /** Where it came from, for logs and errors: `--listen 127.0.0.1:8080`, `systemd`, `--fd 3`. */
  source: string;
  /** The raw handle; keeping a reference keeps the fd open. Never listened on here. */
  handle: RawHandle;
  /** A unix socket path sockrun created (and removes at exit). */
  ownsPath?: string;
}

/** Binds an address of our own (`--listen`), failing early and clearly if it is taken. */
export async function bindSocket(address: ListenAddress, name: string | undefined): Promise<Omit<HeldSocket, 'fd'>> {
  const label = `--listen ${formatAddress(address)}`;
  if (address.kind === 'unix') {
    await removeStaleUnixSocket(address.path, label);
    const handle = new pipeWrap.Pipe(pipeWrap.constants.SERVER);
    check(handle.bind(address.path, 0), label);
    return { source: label, handle, name: name ?? 'unknown', kind: 'unix', path: address.path, ownsPath: address.path };
  }
  const bound = bindTcp(address.host, address.port);
  check(bound.err, label);
  return { source: label, handle: bound.handle, name: name ?? 'unknown', kind: 'tcp', host: bound.host, port: bound.port };
}

/**
 * Binds an app server's own address for sockets/shared.ts: never listened on here, like the
 * held sockets. Returns the errno name (EADDRINUSE, EACCES…) instead of throwing: the worker
 * that asked gets it as its server's 'error'. A unix path that exists is EADDRINUSE, as for
 * Node's own listen(): sockrun removes no file it did not create.
 */
export function bindShared(address: SharedAddress): { handle: RawHandle; host?: string; port?: number } | { error: string } {
  if (address.kind === 'unix') {
    if (fs.existsSync(address.path)) return { error: 'EADDRINUSE' };
    const handle = new pipeWrap.Pipe(pipeWrap.constants.SERVER);
    const err = handle.bind(address.path, 0);
    if (err < 0) return { error: util.getSystemErrorName(err) };
    return { handle };
  }
  const bound = bindTcp(address.host, address.port);
  if (bound.err < 0) {
    bound.handle.close();
    return { error: util.getSystemErrorName(bound.err) };
  }
  return bound;
}

/** `host` undefined: all interfaces (IPv6 and IPv4, or IPv4 alone where IPv6 is missing, as net.Server does). */
function bindTcp(host: string | undefined, port: number): { handle: RawHandle; err: number; host?: string; port?: number } {
  const handle = new tcpWrap.TCP(tcpWrap.constants.SERVER);
  const at = host ?? '::';
  let err = at.includes(':') ? handle.bind6!(at, port, 0) : handle.bind(at, port);
  if (err < 0 && host === undefined && util.getSystemErrorName(err) === 'EAFNOSUPPORT') err = handle.bind('0.0.0.0', port);
  if (err < 0) return { handle, err };
  // libuv defers EADDRINUSE from bind() to listen(); getsockname() reports it now.
  const out: { address?: string; port?: number } = {};
  err = handle.getsockname!(out);
  return { handle, err, host: out.address, port: out.port };
}

/**
 * Adopts an inherited descriptor after checking that it is an open, listening stream socket.
 * A bad descriptor is an error naming it now, never a crash later in a worker.
 */
export function adoptFd(inherited: InheritedFd, source: string): Omit<HeldSocket, 'fd'> {
  const { fd } = inherited;
  const label = source === '--fd' ? `--fd ${fd}` : `${source} fd ${fd}`;
  const info = inspectSocketFd(fd, label);
  if (info.kind === 'unix') {
    const handle = new pipeWrap.Pipe(pipeWrap.constants.SERVER);
    check(handle.open(fd), label, 'SOCKRUN_ERR_BAD_FD');
    return { source: label, handle, name: inherited.name, kind: 'unix', path: info.path };
  }
  const handle = new tcpWrap.TCP(tcpWrap.constants.SERVER);
  check(handle.open(fd), label, 'SOCKRUN_ERR_BAD_FD');
  const out: { address?: string; port?: number } = {};
  handle.getsockname!(out);
  return { source: label, handle, name: inherited.name, kind: 'tcp', host: out.address, port: out.port };
}

/** Closes a held socket and removes the unix socket file sockrun created. */
export function releaseSocket(s: HeldSocket): void {
  s.handle.close();
  if (s.ownsPath) fs.rmSync(s.ownsPath, { force: true });
}

/** The socket as a worker sees it (no handle). */
export function socketInfo(s: HeldSocket): SocketInfo {
  const { fd, name, kind, port, host, path: p } = s;
  return { fd, name, kind, port, host, path: p };
}

/**
 * Linux: /proc/self/fd/N names the socket inode; /proc/net/{tcp,tcp6,unix} say whether that
 * inode is a listening stream socket. Elsewhere the check is skipped (the worker's listen()
 * reports a bad descriptor instead).
 */
function inspectSocketFd(fd: number, label: string): { kind: 'tcp' | 'unix'; path?: string } {
  let target: string;
  try {
    target = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw badFd(`${label} is not open`);
    return { kind: 'tcp' };
  }
  const m = /^socket:\[(\d+)\]$/.exec(target);
  if (!m) throw badFd(`${label} is ${target}, not a socket`);
  const inode = m[1];
  for (const table of ['tcp', 'tcp6']) {
    for (const row of readProcNet(table)) {
      // sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
      if (row[9] !== inode) continue;
      if (row[3] !== '0A') throw badFd(`${label} is a TCP socket that is not listening`);
      return { kind: 'tcp' };
    }
  }
  for (const row of readProcNet('unix')) {
    // Num RefCount Protocol Flags Type St Inode Path
    if (row[6] !== inode) continue;
    if (row[4] !== '0001') throw badFd(`${label} is a unix socket that is not a stream socket`);
    if ((parseInt(row[3], 16) & 0x10000) === 0) throw badFd(`${label} is a unix socket that is not listening`);
    return { kind: 'unix', path: row[7] };
  }
  for (const table of ['udp', 'udp6']) {
    if (readProcNet(table).some((row) => row[9] === inode)) throw badFd(`${label} is a UDP socket, not a stream socket`);
  }
  throw badFd(`${label} is not a listening TCP or unix stream socket`);
}

function readProcNet(table: string): string[][] {
  try {
    return fs.readFileSync(`/proc/net/${table}`, 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.trim().split(/\s+/));
  } catch {
    return [];
  }
}

/** A unix socket file nobody listens on is a leftover of a crash: remove it. One in use is busy. */
async function removeStaleUnixSocket(p: string, label: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(p);
  } catch {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    return;
  }
  if (!stat.isSocket()) throw new SockrunError('SOCKRUN_ERR_BIND', `${label}: ${p} exists and is not a socket`);
  const inUse = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  if (inUse) throw new SockrunError('SOCKRUN_ERR_PORT_BUSY', `${label}: address already in use`);
  fs.rmSync(p, { force: true });
}

function check(err: number, label: string, code?: 'SOCKRUN_ERR_BAD_FD'): void {
  if (err >= 0) return;
  const name = util.getSystemErrorName(err);
  if (code) throw new SockrunError(code, `${label}: ${name}`);
  if (name === 'EADDRINUSE') throw new SockrunError('SOCKRUN_ERR_PORT_BUSY', `${label}: address already in use`);
  throw new SockrunError('SOCKRUN_ERR_BIND', `${label}: cannot bind (${name}: ${util.inspect(util.getSystemErrorMap().get(err)?.[1] ?? '')})`);
}

function badFd(message: string): SockrunError {
  return new SockrunError('SOCKRUN_ERR_BAD_FD', message);
}
