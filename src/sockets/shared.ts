/**
 * On-demand shared sockets: the addresses the app's own servers listen on besides the inherited
 * sockets (`listen(9100, '127.0.0.1')`, a unix path, a second port; worker/listen-map.ts says
 * which). The first worker that asks makes the master bind the address; every worker that asks
 * gets the same socket over IPC, so N workers — and the old and the new generation during a
 * reload — accept on it together, as Node's cluster and PM2 share every listen() (issue 12 item
 * 5). Like the held sockets (hold.ts), the master binds them and never listens on or polls them.
 *
 * The master keeps a shared socket while a live worker uses it, or while a worker is still
 * booting (a respawned or reloaded worker asks again for what its predecessor used, so the
 * address never goes away in between); then it closes it, so clients are refused instead of
 * waiting in a backlog nobody accepts from.
 */
import fs = require('node:fs');
import os = require('node:os');
import { getSystemErrorMap } from 'node:util';
import type { Logger } from 'pino';
import type { SharedAddress, WorkerMessage } from '../protocol';
import { RawHandle, bindShared } from './hold';

/** What the master's worker handle offers here (master/worker-handle.ts; sockets/ does not import master/). */
export interface ShareClient {
  pid: number;
  stage: string;
  child: { connected: boolean; send(message: unknown, handle: unknown, options: object, callback: () => void): boolean };
}

interface Entry {
  address: SharedAddress;
  handle: RawHandle;
  /** Worker pid → how many of its servers listen on it. */
  users: Map<number, number>;
  /** A unix socket file the master created (removed when released). */
  ownsPath?: string;
}

type ShareRequest = Extract<WorkerMessage, { type: 'sockrun:share' }>;

export class SharedSockets {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly log: Logger) {
    // The unix socket files we created go with the master, however it ends.
    process.once('exit', () => {
      for (const entry of this.entries.values()) this.release(entry);
    });
  }

  /** Handles a worker's `sockrun:share` message: binds or reuses the socket and sends it, or gives it back. */
  onMessage(worker: ShareClient, m: ShareRequest): void {
    const key = keyOf(m.address);
    const entry = this.entries.get(key);
    if (m.op === 'close') {
      const n = entry?.users.get(worker.pid) ?? 0;
      if (n > 1) entry!.users.set(worker.pid, n - 1);
      else entry?.users.delete(worker.pid);
      return;
    }
    const found = entry ?? this.bind(m.address, worker);
    if ('error' in found) {
      const message = errorMessage(found.error);
      this.log.warn({ workerPid: worker.pid, address: describeAddress(m.address), error: found.error }, `a worker cannot listen on ${describeAddress(m.address)}: ${message}`);
      return void send(worker, { type: 'sockrun:shared', id: m.id, error: { code: found.error, message } });
    }
    found.users.set(worker.pid, (found.users.get(worker.pid) ?? 0) + 1);
    send(worker, { type: 'sockrun:shared', id: m.id }, found.handle);
  }

  /**
   * For a worker that did not listen on its inherited sockets in time: the addresses of its own
   * it listens on, since that is the likely mistake (`listen(3000, 'localhost')` for the public
   * server); '' when none.
   */
  bootHint(pid: number): string {
    const own = [...this.entries.values()].filter((e) => e.users.has(pid)).map((e) => describeAddress(e.address));
    if (own.length === 0) return '';
    return `; it listens on its own address ${own.join(', ')}, which sockrun's listen rule never puts on an inherited ` +
      'socket: the public server must listen on process.env.PORT, or with no host';
  }

  /**
   * Closes the sockets no live worker uses, unless a worker is still booting. Called after every
   * master event, with the live workers.
   */
  prune(live: readonly ShareClient[]): void {
    if (this.entries.size === 0) return;
    const alive = new Set(live.map((w) => w.pid));
    for (const entry of this.entries.values()) for (const pid of entry.users.keys()) if (!alive.has(pid)) entry.users.delete(pid);
    if (live.some((w) => w.stage === 'SPAWNED')) return;
    for (const [key, entry] of this.entries) {
      if (entry.users.size > 0) continue;
      this.entries.delete(key);
      this.release(entry);
      this.log.info({ address: describeAddress(entry.address) }, 'shared socket closed: no worker listens on it any more');
    }
  }

  private bind(address: SharedAddress, worker: ShareClient): Entry | { error: string } {
    const bound = bindShared(address);
    if ('error' in bound) return bound;
    const entry: Entry = { address, handle: bound.handle, users: new Map() };
    if (address.kind === 'unix') entry.ownsPath = address.path;
    this.entries.set(keyOf(address), entry);
    this.log.info({ address: describeAddress(address), workerPid: worker.pid, port: bound.port }, 'shared socket bound for an app server\'s own address');
    return entry;
  }

  private release(entry: Entry): void {
    entry.handle.close();
    const p = entry.ownsPath;
    entry.ownsPath = undefined;
    // Only the socket file we created, and only while it is still a socket.
    if (p && fs.lstatSync(p, { throwIfNoEntry: false })?.isSocket()) fs.rmSync(p, { force: true });
  }
}

export function describeAddress(a: SharedAddress): string {
  if (a.kind === 'unix') return `unix:${a.path}`;
  if (a.host === undefined) return `*:${a.port}`;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function keyOf(a: SharedAddress): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `tcp:${a.host ?? '*'}:${a.port}`;
}

/** `address already in use` for EADDRINUSE: libuv's words, as Node's own listen errors use them. */
function errorMessage(code: string): string {
  const errno = (os.constants.errno as Record<string, number | undefined>)[code];
  return (errno !== undefined ? getSystemErrorMap().get(-errno)?.[1] : undefined) ?? code;
}

function send(worker: ShareClient, message: unknown, handle?: RawHandle): void {
  // With a callback, a channel that closes meanwhile is not an 'error' event on the child.
  if (worker.child.connected) worker.child.send(message, handle, {}, () => {});
}
