import type { SocketInfo } from '../protocol';

/**
 * The rule that maps an app's `listen(...)` call to one inherited socket (README, "Drop-in"):
 *  1. `listen({fd})` naming an inherited descriptor uses it (the API mode: `socket(name)`).
 *  2. With exactly one inherited socket, every listen() maps to it, whatever port or path.
 *  3. With several: a port maps to the socket bound to that port; a string (or `{name}`)
 *     maps to the socket of that name (FileDescriptorName=, --fd N:name, --listen name=…),
 *     then to a unix socket of that path.
 * Anything else is an error that lists the sockets, so a wrong mapping never goes unnoticed.
 *
 * Returns `undefined` for `listen({fd})` / `listen({handle})` on something not ours: those
 * pass through to Node untouched.
 */
export function mapListen(args: unknown[], sockets: SocketInfo[]): { socket: SocketInfo; callback?: () => void } | undefined {
  const callback = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as () => void) : undefined;
  const first = args[0];
  let port: number | undefined;
  let key: string | undefined;

  if (first !== null && typeof first === 'object') {
    const o = first as { fd?: number; handle?: unknown; port?: unknown; path?: unknown; name?: unknown; _handle?: unknown };
    if (typeof o.fd === 'number') {
      const s = sockets.find((x) => x.fd === o.fd);
      return s ? { socket: s, callback } : undefined;
    }
    if (o.handle !== undefined || o._handle !== undefined) return undefined;
    if (typeof o.name === 'string') key = o.name;
    else if (typeof o.path === 'string') key = o.path;
    else if (o.port !== undefined) port = toPort(o.port);
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    port = Number(first);
  } else if (typeof first === 'string') {
    key = first;
  }

  if (sockets.length === 1) return { socket: sockets[0], callback };
  const found = port !== undefined && port !== 0
    ? sockets.find((s) => s.port === port)
    : key !== undefined ? sockets.find((s) => s.name === key) ?? sockets.find((s) => s.path === key) : undefined;
  if (found) return { socket: found, callback };
  const asked = port !== undefined ? `port ${port}` : key !== undefined ? `"${key}"` : 'no address';
  throw new Error(
    `sockrun: listen(${asked}) matches none of the inherited sockets: ${sockets.map(describeSocket).join(', ')}. ` +
    `Listen on one of those ports or names, or use require('sockrun').socket(name).`,
  );
}

export function describeSocket(s: SocketInfo): string {
  const where = s.kind === 'unix' ? `unix:${s.path ?? '?'}` : `${s.host ?? '*'}:${s.port ?? '?'}`;
  return `${s.name} (fd ${s.fd}, ${where})`;
}

function toPort(v: unknown): number | undefined {
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}
