/**
 * How a notify datagram reaches `$NOTIFY_SOCKET`. Node has no AF_UNIX datagram sockets, so
 * this is the one place that touches a native module (the optional dependency `unix-dgram`)
 * or, for abstract addresses, the `systemd-notify` binary.
 *
 * Why two ways (see systemd/README.md): unix-dgram copies the address with strncpy, so an
 * abstract name ("\0name") arrives as an empty path and cannot be addressed. systemd itself
 * always uses a filesystem path (/run/systemd/notify); abstract addresses come from other
 * service managers and test tools, and go through `systemd-notify`.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { NotifyLog } from './notify';

/** Sends notify messages in order; never throws. */
export interface Transport {
  readonly kind: 'path' | 'abstract';
  send(message: string): void;
  /** Releases resources once the messages already sent have gone out. */
  close(): void;
}

export type OpenResult = { ok: true; transport: Transport } | { ok: false; reason: string };

/** The subset of unix-dgram's socket we use. send() calls back synchronously. */
interface DgramSocketLike {
  send(buf: Buffer, offset: number, length: number, destPath: string, onWrite?: (err: Error | undefined) => void): void;
  close(): void;
  on(event: 'error' | 'congestion', listener: (err: Error) => void): unknown;
}
type OpenSocket = () => DgramSocketLike;

/** Opens the transport for a NOTIFY_SOCKET value (`/path` or `@abstract`). */
export function openTransport(address: string, log: NotifyLog): OpenResult {
  if (address.startsWith('/')) {
    if (Buffer.byteLength(address) > 107) return { ok: false, reason: `socket path longer than sun_path (107 bytes)` };
    const loaded = loadUnixDgram();
    if (!loaded.ok) return loaded;
    return { ok: true, transport: new DgramTransport(loaded.openSocket, address, log) };
  }
  if (address.startsWith('@') && address.length > 1) {
    const binary = findOnPath('systemd-notify');
    if (!binary) {
      return { ok: false, reason: 'abstract NOTIFY_SOCKET needs the systemd-notify binary (unix-dgram cannot address abstract names)' };
    }
    return { ok: true, transport: new SystemdNotifyTransport(binary, address, log) };
  }
  return { ok: false, reason: 'NOTIFY_SOCKET is neither an absolute path nor an @abstract name' };
}

function loadUnixDgram(): { ok: true; openSocket: OpenSocket } | { ok: false; reason: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require('unix-dgram') as { createSocket?: (type: 'unix_dgram') => DgramSocketLike };
    if (typeof mod.createSocket !== 'function') return { ok: false, reason: 'unix-dgram has no createSocket' };
    const create = mod.createSocket;
    return { ok: true, openSocket: () => create('unix_dgram') };
  } catch (err) {
    return {
      ok: false,
      reason: `optional dependency unix-dgram is not installed or failed to load (${(err as Error).message.split('\n')[0]})`,
    };
  }
}

/** Warns about the first send failure, then only logs at debug (a gone manager fails every send). */
class FailureLog {
  private warned = false;
  constructor(private readonly log: NotifyLog, private readonly address: string) {}
  report(err: Error, message: string): void {
    const obj = { notifySocket: this.address, err: err.message, message: message.split('\n')[0] };
    if (this.warned) return this.log.debug(obj, 'sd_notify send failed');
    this.warned = true;
    this.log.warn(obj, 'sd_notify send failed (further failures are logged at debug level)');
  }
}

/**
 * A filesystem-path NOTIFY_SOCKET through unix-dgram. An open socket keeps the event loop alive
 * and has no unref(), so the socket lives only while sends are in flight: opened on the first
 * send, closed when the last callback has fired. sendto(2) happens synchronously in send(), so
 * messages keep their order.
 */
class DgramTransport implements Transport {
  readonly kind = 'path';
  private socket: DgramSocketLike | undefined;
  private inFlight = 0;
  private closed = false;
  private readonly failures: FailureLog;

  constructor(private readonly openSocket: OpenSocket, private readonly address: string, log: NotifyLog) {
    this.failures = new FailureLog(log, address);
  }

  send(message: string): void {
    if (this.closed) return;
    const buf = Buffer.from(message, 'utf8');
    try {
      if (!this.socket) {
        const socket = this.openSocket();
        socket.on('error', (err) => {
          this.failures.report(err, message);
          if (this.socket === socket) this.release(socket);
        });
        // The manager's queue is full (EAGAIN): this datagram is lost; the next STATUS or
        // WATCHDOG repeats the state.
        socket.on('congestion', () => this.failures.report(new Error('notify socket congested'), message));
        this.socket = socket;
      }
      const socket = this.socket;
      this.inFlight++;
      socket.send(buf, 0, buf.length, this.address, (err) => {
        this.inFlight--;
        if (err) this.failures.report(err, message);
        if (this.inFlight === 0) this.release(socket);
      });
    } catch (err) {
      this.failures.report(err as Error, message);
      if (this.socket && this.inFlight === 0) this.release(this.socket);
    }
  }

  close(): void {
    this.closed = true;
    if (this.socket && this.inFlight === 0) this.release(this.socket);
  }

  private release(socket: DgramSocketLike): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    try {
      socket.close();
    } catch {
      /* already closed after an error */
    }
  }
}

/**
 * An abstract NOTIFY_SOCKET through `systemd-notify --no-block --pid=<our pid>`, one process at
 * a time so messages keep their order. `--pid` makes the datagram carry the master's pid
 * (SCM_CREDENTIALS) where privileges allow it; it also adds `MAINPID=<our pid>`, which is true.
 */
class SystemdNotifyTransport implements Transport {
  readonly kind = 'abstract';
  private readonly queue: string[] = [];
  private running = false;
  private closed = false;
  private readonly failures: FailureLog;

  constructor(private readonly binary: string, private readonly address: string, log: NotifyLog) {
    this.failures = new FailureLog(log, address);
  }

  send(message: string): void {
    if (this.closed) return;
    this.queue.push(message);
    this.pump();
  }

  close(): void {
    this.closed = true; // what is queued still goes out: a STOPPING=1 right before close() matters
  }

  private pump(): void {
    if (this.running) return;
    const message = this.queue.shift();
    if (message === undefined) return;
    this.running = true;
    const args = ['--no-block', `--pid=${process.pid}`, '--', ...message.split('\n')];
    execFile(this.binary, args, { env: { NOTIFY_SOCKET: this.address }, timeout: 5000 }, (err, _out, stderr) => {
      this.running = false;
      if (err) this.failures.report(new Error(`${err.message.split('\n')[0]} ${String(stderr).trim()}`.trim()), message);
      this.pump();
    });
  }
}

function findOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean).concat(['/usr/bin', '/bin']);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return undefined;
}
