/**
 * Checks and opens descriptors the master inherits (systemd socket activation, `--fd`): a bad one
 * is an error naming it now, never a crash later in a worker (DESIGN §2).
 *
 * The checks must not depend on the network namespace (issue 15 item 4): with systemd's
 * `PrivateNetwork=yes` and a socket unit, the socket lives in the host's namespace while the
 * service has its own, so /proc/net/* of ours does not list it (and /proc may be absent).
 * What is read from the descriptor itself, in any namespace:
 *  - open, and a socket (fstat);
 *  - a TCP or unix *stream* socket (libuv's uv_guess_handle: SO_TYPE and the address family);
 *  - TCP: bound to an address (getsockname) and not a connection (getpeername fails), so not
 *    one handed out by an `Accept=yes` socket unit.
 * Whether it already listens cannot be read from Node (no getsockopt(SO_ACCEPTCONN)): a bound
 * socket that does not listen yet is accepted, and the first worker's listen() puts it in
 * LISTEN, as it did for sockrun's own binds before issue 15. /proc/net/unix, where it lists the
 * socket (our namespace), adds the unix socket's path and its connection state.
 */
import fs = require('node:fs');
import { SockrunError } from '../errors';
import { HandleSource, RawHandle, SockName, handles } from './handles';
import type { HeldSocket } from './hold';
import type { InheritedFd } from './listen-fds';

/** Adopts an inherited descriptor after checking it is a usable stream socket. */
export function adoptFd(inherited: InheritedFd, source: string, from: HandleSource = handles): Omit<HeldSocket, 'fd'> {
  const { fd, name } = inherited;
  const label = source === '--fd' ? `--fd ${fd}` : `${source} fd ${fd}`;
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBADF') throw badFd(`${label} is not open`);
    throw badFd(`${label} cannot be inspected (${(err as NodeJS.ErrnoException).code})`);
  }
  if (!st.isSocket()) throw badFd(`${label} is ${describeFile(fd, st)}, not a socket`);
  const h = from.adopt(fd);
  if (typeof h === 'number') {
    const udp = ['udp', 'udp6'].some((t) => readProcNet(t).some((row) => row[9] === String(st.ino)));
    throw badFd(udp ? `${label} is a UDP socket, not a stream socket` : `${label} is not a TCP or unix stream socket`);
  }
  const fail = (why: string): never => {
    h.close();
    throw badFd(`${label} ${why}`);
  };
  const peer: SockName = {};
  if (h.getpeername?.(peer) === 0) {
    fail(`is a connected socket${peer.port ? ` (peer ${peer.address}:${peer.port})` : ''}, not a listening one (a socket unit with Accept=yes hands out connections; sockrun needs Accept=no)`);
  }
  const local = sockName(h);
  if (local?.family) {
    if (!local.port) fail('is a TCP socket that is not bound to an address');
    return { source: label, handle: h, name, kind: 'tcp', host: local.address, port: local.port };
  }
  // A unix socket. Our namespace's table knows its path and state; another namespace's does not.
  const row = readProcNet('unix').find((r) => r[6] === String(st.ino));
  if (row) {
    // Num RefCount Protocol Flags Type St Inode Path
    const listening = (parseInt(row[3], 16) & 0x10000) !== 0;
    if (row[4] !== '0001') fail('is a unix socket that is not a stream socket');
    if (!listening && row[5] === '03') fail('is a connected unix socket, not a listening one (a socket unit with Accept=yes hands out connections; sockrun needs Accept=no)');
    if (!listening && row[7] === undefined) fail('is a unix socket that is not bound to a path');
  }
  return { source: label, handle: h, name, kind: 'unix', path: row?.[7] };
}

/** The socket's identity (device, inode): two descriptors of one socket share it. */
export function socketIdentity(fd: number): string | undefined {
  try {
    const st = fs.fstatSync(fd);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

function sockName(h: RawHandle): SockName | undefined {
  if (!h.getsockname) return undefined;
  const out: SockName = {};
  return h.getsockname(out) === 0 ? out : undefined;
}

function describeFile(fd: number, st: fs.Stats): string {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return st.isFIFO() ? 'a pipe' : st.isCharacterDevice() ? 'a character device' : st.isDirectory() ? 'a directory' : 'a file';
  }
}

function readProcNet(table: string): string[][] {
  try {
    return fs.readFileSync(`/proc/net/${table}`, 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.trim().split(/\s+/));
  } catch {
    return [];
  }
}

function badFd(message: string): SockrunError {
  return new SockrunError('SOCKRUN_ERR_BAD_FD', message);
}
