import { usageError } from '../errors';

/** Where the master binds a socket of its own (`--listen`). */
export type ListenAddress =
  | { kind: 'tcp'; host: string | undefined; port: number }
  | { kind: 'unix'; path: string };

/**
 * Parses a `--listen` value: `8080` (all interfaces), `127.0.0.1:8080`, `[::1]:8080`,
 * `localhost:8080`, `unix:/run/app.sock`. An optional `name=` prefix (`http=127.0.0.1:8080`)
 * names the socket, as FileDescriptorName= does under systemd.
 */
export function parseListenAddress(input: string): { name: string | undefined; address: ListenAddress } {
  let rest = input.trim();
  let name: string | undefined;
  const named = /^([A-Za-z_][\w.-]*)=(.+)$/.exec(rest);
  if (named) [, name, rest] = named;
  if (rest.startsWith('unix:')) {
    const path = rest.slice('unix:'.length);
    if (!path) throw usageError(`--listen ${input}: a unix socket needs a path (unix:/run/app.sock)`);
    return { name, address: { kind: 'unix', path } };
  }
  let host: string | undefined;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.%\w]+)\]:(\d+)$/.exec(rest);
  if (v6) [, host, portText] = v6;
  else if (/^\d+$/.test(rest)) portText = rest;
  else {
    const hp = /^([^:\s]+):(\d+)$/.exec(rest);
    if (!hp) throw usageError(`--listen ${input}: expected PORT, HOST:PORT, [V6]:PORT or unix:/path`);
    [, host, portText] = hp;
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--listen ${input}: port out of range`);
  return { name, address: { kind: 'tcp', host, port } };
}

export function formatAddress(a: ListenAddress): string {
  if (a.kind === 'unix') return `unix:${a.path}`;
  if (a.host === undefined) return String(a.port);
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/**
 * Whether two addresses would need the same socket: one unix path, or one TCP port on the same
 * host or under a wildcard (`8080` and `[::]` take every address, IPv4 included; `0.0.0.0` every
 * IPv4 address). Port 0 (any free port) never collides.
 */
export function overlaps(a: ListenAddress, b: ListenAddress): boolean {
  if (a.kind === 'unix' || b.kind === 'unix') return a.kind === 'unix' && b.kind === 'unix' && a.path === b.path;
  if (a.port !== b.port || a.port === 0) return false;
  const dual = (h: string | undefined) => h === undefined || h === '::';
  const v4 = (h: string | undefined) => h !== undefined && !h.includes(':');
  if (a.host === b.host || dual(a.host) || dual(b.host)) return true;
  return (a.host === '0.0.0.0' && v4(b.host)) || (b.host === '0.0.0.0' && v4(a.host));
}

/** The first two positions in `list` that overlap, or undefined. */
export function findOverlap(list: ListenAddress[]): [number, number] | undefined {
  for (let j = 1; j < list.length; j++) {
    for (let i = 0; i < j; i++) if (overlaps(list[i], list[j])) return [i, j];
  }
  return undefined;
}
