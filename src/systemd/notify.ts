/**
 * sd_notify(3) for the master: readiness, status, reload, stop and watchdog messages to the
 * service manager over `$NOTIFY_SOCKET`. Only the master talks to systemd (DESIGN §5); the
 * master removes NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID from its workers' environment.
 *
 * Outside systemd (no NOTIFY_SOCKET) every method is a silent no-op, like sd_notify(3).
 */
import { planWatchdog } from './watchdog';
import { openTransport, type Transport } from './transport';

/** What the master tells the service manager. All methods are no-ops when `enabled` is false. */
export interface Notifier {
  /** False outside systemd (no NOTIFY_SOCKET), with no way to send (see transport.ts), or after close(). */
  readonly enabled: boolean;
  /** `READY=1` + `STATUS=`: start-up finished, or a reload completed or was aborted. */
  ready(status: string): void;
  /**
   * `RELOADING=1` + `MONOTONIC_USEC=<CLOCK_MONOTONIC µs>` in ONE datagram (what
   * `Type=notify-reload` requires): a reload started; the unit stays "reloading" until the
   * next ready().
   */
  reloading(): void;
  /** `STOPPING=1` + `STATUS=`: a drain started. */
  stopping(status: string): void;
  /** `STATUS=` (one line, shown by `systemctl status`); an identical consecutive value is not re-sent. */
  status(text: string): void;
  /** `EXTEND_TIMEOUT_USEC=`: "give me this much longer from now" while a long drain progresses. */
  extendTimeout(usec: number): void;
  /**
   * `WATCHDOG=1` every WATCHDOG_USEC/2 while `isHealthy()` returns true. A no-op without
   * WATCHDOG_USEC or when WATCHDOG_PID names another process. The timer is unref'd (it never
   * keeps the process alive); a second call replaces the first.
   */
  startWatchdog(isHealthy: () => boolean): void;
  /** Stops the watchdog and releases the socket; later calls are no-ops. */
  close(): void;
}

/** The slice of a pino logger the notifier uses. */
export interface NotifyLog {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from `env` now (the master may delete
 * them from process.env afterwards). Never throws. Without the native module it falls back to
 * systemd-notify and warns once, in full, what the unit then needs; with no way to send at all
 * (or an unusable address) it warns once and returns a disabled notifier.
 */
export function createNotifier(env: NodeJS.ProcessEnv, log: NotifyLog): Notifier {
  const address = env.NOTIFY_SOCKET;
  if (address === undefined || address === '') return new SystemdNotifier(undefined, env, log);
  const opened = openTransport(address, log);
  if (!opened.ok) {
    log.warn({ notifySocket: address, reason: opened.reason }, `sd_notify is off: systemd will not hear READY/STATUS/WATCHDOG from sockrun, because ${opened.reason}`);
    return new SystemdNotifier(undefined, env, log);
  }
  if (opened.warning) log.warn({ notifySocket: address, via: opened.transport.via }, opened.warning);
  return new SystemdNotifier(opened.transport, env, log);
}

/** CLOCK_MONOTONIC in µs: libuv's hrtime reads CLOCK_MONOTONIC on Linux (checked against clock_gettime). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** STATUS= is one line: systemd shows it verbatim in `systemctl status`. */
const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ').trim();

class SystemdNotifier implements Notifier {
  private transport: Transport | undefined;
  private lastStatus: string | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private readonly watchdogEnv: NodeJS.ProcessEnv;

  constructor(transport: Transport | undefined, env: NodeJS.ProcessEnv, private readonly log: NotifyLog) {
    this.transport = transport;
    // Copied now: the master deletes these from process.env before spawning workers.
    this.watchdogEnv = { WATCHDOG_USEC: env.WATCHDOG_USEC, WATCHDOG_PID: env.WATCHDOG_PID };
  }

  get enabled(): boolean {
    return this.transport !== undefined;
  }

  ready(status: string): void {
    this.sendWithStatus('READY=1', status);
  }

  reloading(): void {
    this.send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`);
  }

  stopping(status: string): void {
    this.sendWithStatus('STOPPING=1', status);
  }

  status(text: string): void {
    const line = oneLine(text);
    if (line === this.lastStatus) return;
    this.sendWithStatus(undefined, line);
  }

  extendTimeout(usec: number): void {
    if (!Number.isFinite(usec) || usec <= 0) return;
    this.send(`EXTEND_TIMEOUT_USEC=${Math.ceil(usec)}`);
  }

  startWatchdog(isHealthy: () => boolean): void {
    if (!this.transport) return;
    const plan = planWatchdog(this.watchdogEnv, process.pid);
    if (!plan.enabled) {
      if (plan.reason !== 'no WATCHDOG_USEC') this.log.warn({ reason: plan.reason }, 'systemd watchdog not armed');
      return;
    }
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = setInterval(() => {
      // A stopped or blocked loop never gets here, which is the point: systemd then kills us.
      if (isHealthy()) this.send('WATCHDOG=1');
      else this.log.debug({}, 'master unhealthy: WATCHDOG=1 withheld');
    }, plan.intervalMs);
    this.watchdogTimer.unref();
    this.log.debug({ timeoutUsec: plan.timeoutUsec, intervalMs: plan.intervalMs }, 'systemd watchdog armed');
  }

  close(): void {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
    this.transport?.close();
    this.transport = undefined;
  }

  private sendWithStatus(head: string | undefined, status: string): void {
    const line = oneLine(status);
    if (!this.transport) return;
    this.lastStatus = line;
    this.send(head === undefined ? `STATUS=${line}` : `${head}\nSTATUS=${line}`);
  }

  private send(message: string): void {
    this.transport?.send(message);
  }
}
