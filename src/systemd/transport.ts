/**
 * How a notify datagram reaches `$NOTIFY_SOCKET`. Node has no AF_UNIX datagram sockets, so
 * this is the one place that touches a native module (the optional dependency `unix-dgram`)
 * or the `systemd-notify` binary.
 *
 * Which way (see systemd/README.md):
 * * a filesystem path (what systemd itself always uses, /run/systemd/notify): unix-dgram, from
 *   the master's own pid, so `NotifyAccess=main` accepts it;
 * * the same path when unix-dgram is missing or built for another Node ABI (slim image, no
 *   compiler, a Node upgrade without `npm rebuild`): `systemd-notify`, which waits until the
 *   manager has processed each message (so the manager can still attribute it to the unit);
 *   the datagram comes from systemd-notify's pid unless it may claim ours (CAP_SYS_ADMIN), so
 *   the unit needs `NotifyAccess=all` — the shipped units have it;
 * * an abstract address ("@name", from other service managers and test tools): unix-dgram
 *   copies the address with strncpy, so "\0name" arrives as an empty path; `systemd-notify`.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { NotifyLog } from './notify';

/** Sends notify messages in order; never throws. */
export interface Transport {
  readonly kind: 'path' | 'abstract';
  /** What carries the datagrams. */
  readonly via: 'unix-dgram' | 'systemd-notify';
  send(message: string): void;
  /** Releases resources once the messages already sent have gone out. */
  close(): void;
}

/** `warning`: notify works, but the operator should know how (said once, in full, at start). */
export type OpenResult = { ok: true; transport: Transport; warning?: string } | { ok: false; reason: string };

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
    if (loaded.ok) return { ok: true, transport: new DgramTransport(loaded.openSocket, address, log) };
    const binary = findOnPath('systemd-notify');
    if (!binary) return { ok: false, reason: `${loaded.reason}; and no systemd-notify binary to fall back on` };
    return {
      ok: true,
      transport: new SystemdNotifyTransport(binary, address, log, { wait: true }),
      warning: `sd_notify goes through systemd-notify, one process per message, because ${loaded.reason}. `
        + 'The unit needs NotifyAccess=all (the units shipped in systemd/ have it) or systemd ignores READY=1 and kills the service at TimeoutStartSec=. '
        + '`npm rebuild unix-dgram` with this Node restores the direct path',
    };
  }
  if (address.startsWith('@') && address.length > 1) {
    const binary = findOnPath('systemd-notify');
    if (!binary) {
      return { ok: false, reason: 'abstract NOTIFY_SOCKET needs the systemd-notify binary (unix-dgram cannot address abstract names)' };
    }
    return { ok: true, transport: new SystemdNotifyTransport(binary, address, log, { wait: false }) };
  }
  return { ok: false, reason: 'NOTIFY_SOCKET is neither an absolute path nor an @abstract name' };
}

/** An error message on one line, all of it: a module load error spreads the why over several. */
export const wholeMessage = (err: unknown): string => String((err as Error)?.message ?? err).replace(/\s*\n\s*/g, ' ').trim();

function loadUnixDgram(): { ok: true; openSocket: OpenSocket } | { ok: false; reason: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require('unix-dgram') as { createSocket?: (type: 'unix_dgram') => DgramSocketLike };
    if (typeof mod.createSocket !== 'function') return { ok: false, reason: 'unix-dgram has no createSocket' };
    const create = mod.createSocket;
    return { ok: true, openSocket: () => create('unix_dgram') };
  } catch (err) {
    return { ok: false, reason: `the optional dependency unix-dgram is not installed or failed to load (${wholeMessage(err)})` };
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
  readonly via = 'unix-dgram';
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
 * Messages through `systemd-notify --pid=<our pid>`, one process at a time so they keep their
 * order. `--pid` makes the datagram carry the master's pid (SCM_CREDENTIALS) where privileges
 * allow it; it also adds `MAINPID=<our pid>`, which is true.
 *
 * `wait: true` (the fallback for systemd's own path socket): systemd-notify waits until the
 * manager processed the message (sd_notify_barrier), so the sender is still alive when systemd
 * looks up its unit — without that, a message from an exited helper may be dropped even with
 * NotifyAccess=all (systemd-notify(1)). `wait: false` (--no-block) for abstract addresses.
 * STATUS-only messages still queued are replaced by a newer one: only the latest state matters.
 */
class SystemdNotifyTransport implements Transport {
  readonly via = 'systemd-notify';
  readonly kind: 'path' | 'abstract';
  private readonly queue: string[] = [];
  private running = false;
  private closed = false;
  private readonly failures: FailureLog;

  constructor(private readonly binary: string, private readonly address: string, log: NotifyLog, private readonly options: { wait: boolean }) {
    this.kind = address.startsWith('@') ? 'abstract' : 'path';
    this.failures = new FailureLog(log, address);
  }

  send(message: string): void {
    if (this.closed) return;
    const last = this.queue.length - 1;
    if (last >= 0 && isStatusOnly(message) && isStatusOnly(this.queue[last])) this.queue[last] = message;
    else this.queue.push(message);
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
    const args = [...(this.options.wait ? [] : ['--no-block']), `--pid=${process.pid}`, '--', ...message.split('\n')];
    execFile(this.binary, args, { env: { NOTIFY_SOCKET: this.address }, timeout: 10_000 }, (err, _out, stderr) => {
      this.running = false;
      if (err) this.failures.report(new Error(`${wholeMessage(err)} ${String(stderr).trim()}`.trim()), message);
      this.pump();
    });
  }
}

const isStatusOnly = (message: string): boolean => message.startsWith('STATUS=') && !message.includes('\n');

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
