/**
 * Where the master's raw libuv handles come from: the only place that reaches below Node's public
 * API (hold.ts is the only caller).
 *
 * The master must hold sockets that are in LISTEN (issue 15 item 3) without ever polling them
 * (DESIGN §3), and no public API offers that: a net.Server polls what it listens on, and
 * net.BoundSocket (24.x, 26.x) only binds — it can be kept bound, which is the race item 3
 * fixes, or adopted by a net.Server, which polls. So the master works on the handles net.Server
 * itself uses, and `listenUnpolled` (hold.ts) drives them.
 *
 * Two sources, same handles:
 *  - `net._createServerHandle`, what net.Server.listen() and Node's own cluster primary use to
 *    bind and to open `listen({fd})` descriptors (22, 24, 26): no DEP0111 warning, and it works
 *    under the permission model (with --allow-net), where process.binding() throws;
 *  - `process.binding('tcp_wrap' / 'pipe_wrap')` (deprecated, DEP0111), kept as the fallback
 *    for a Node that drops the former.
 */
import net = require('node:net');
import os = require('node:os');

/** A libuv TCP or Pipe handle, as net.Server uses it. Closing it closes the descriptor. */
export interface RawHandle {
  readonly fd: number;
  open(fd: number): number;
  listen(backlog: number): number;
  readStart(): number;
  readStop(): number;
  /** TCP only. */
  getsockname?(out: SockName): number;
  /** TCP only. */
  getpeername?(out: SockName): number;
  close(cb?: () => void): void;
  onconnection?: (status: number, client?: { close(): void }) => void;
}

export interface SockName {
  address?: string;
  family?: string;
  port?: number;
}

/** Each function returns a handle or a negative errno. */
export interface HandleSource {
  readonly name: string;
  /** A TCP handle bound (not listening) to host:port; host undefined = every interface, IPv6 and IPv4. */
  tcp(host: string | undefined, port: number): RawHandle | number;
  /** A Pipe handle bound (not listening) to a unix socket path. */
  unix(path: string): RawHandle | number;
  /** Opens an inherited descriptor; EINVAL when it is not a TCP or unix stream socket. */
  adopt(fd: number): RawHandle | number;
}

type CreateServerHandle = (address: string | null, port: number | null, addressType: number | null, fd?: number, flags?: number) => RawHandle | number;
const createServerHandle = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
const EINVAL = -os.constants.errno.EINVAL;

/** net's own: `_createServerHandle(address, port, addressType, fd)`. */
export const netHandles: HandleSource | undefined = createServerHandle && {
  name: 'net',
  // No address: '::' (dual stack), falling back to 0.0.0.0 where IPv6 is unavailable, as listen(port) does.
  tcp: (host, port) => createServerHandle(host ?? null, port, host === undefined ? 4 : net.isIP(host)),
  unix: (path) => createServerHandle(path, -1, -1),
  // libuv's uv_guess_handle (SO_TYPE and the address family) picks TCP or Pipe, EINVAL for anything else.
  adopt: (fd) => createServerHandle(null, null, null, fd),
};

type Binding = { [name: string]: new (type: number) => RawHandle & { bind(a: string, p?: number): number; bind6(a: string, p: number, f: number): number } } & { constants: Record<string, number> };
const binding = (name: string): Binding => (process as unknown as { binding(n: string): Binding }).binding(name);

/** The internal bindings (DEP0111), loaded on first use only. */
export const bindingHandles: HandleSource = {
  name: 'process.binding',
  tcp(host, port) {
    const { TCP, constants } = binding('tcp_wrap');
    const h = new TCP(constants.SERVER);
    let err = host === undefined || host.includes(':') ? h.bind6(host ?? '::', port, 0) : h.bind(host, port);
    if (err < 0 && host === undefined) err = h.bind('0.0.0.0', port);
    return err < 0 ? (h.close(), err) : h;
  },
  unix(path) {
    const { Pipe, constants } = binding('pipe_wrap');
    const h = new Pipe(constants.SERVER);
    const err = h.bind(path);
    return err < 0 ? (h.close(), err) : h;
  },
  // Without uv_guess_handle: a TCP handle can hold any socket and read its addresses, but
  // cannot tell a UDP socket from a TCP one; hold.ts's checks say what they can.
  adopt(fd) {
    const { TCP, constants } = binding('tcp_wrap');
    const h = new TCP(constants.SERVER);
    const err = h.open(fd);
    return err < 0 ? EINVAL : h;
  },
};

/** The source the master uses: net's own where this Node has it. */
export const handles: HandleSource = netHandles ?? bindingHandles;
