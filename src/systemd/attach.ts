/**
 * Wires the master's lifecycle to sd_notify (DESIGN §5). Registered in cli/attachments.ts;
 * reads only the master's events and snapshot, never its internals.
 *
 *   STARTING → READY         READY=1 + STATUS=
 *   READY → RELOADING        RELOADING=1 + MONOTONIC_USEC= (one datagram) + STATUS=
 *   reload done or aborted   READY=1 + STATUS=  (so `systemctl reload` returns when the rollout is over)
 *   → DRAINING               STOPPING=1 + STATUS=, then EXTEND_TIMEOUT_USEC= every second while
 *                            the drain is within sockrun's own deadline
 *   always                   STATUS= kept current (once a second at most), WATCHDOG=1 while the loop ticks
 */
import type { Logger } from 'pino';
import type { Configuration } from '../config/resolve';
import type { Master, MasterSnapshot } from '../master/master';
import { createNotifier, type Notifier } from './notify';

/** How often STATUS= is refreshed and, while draining, the stop timeout extended. */
const REFRESH_MS = 1000;
/** Each extension covers this much from now: three refreshes, so one late tick is harmless. */
const EXTEND_USEC = 3 * REFRESH_MS * 1000;
/** After the graceful timeout the master kills stragglers (1 s grace); allow for that, then stop extending. */
const DRAIN_SLACK_MS = 2000;

/** The one-line summary `systemctl status` shows: state names verbatim (STYLE §3). */
export function statusLine(s: Pick<MasterSnapshot, 'state' | 'workersReady' | 'workersTarget' | 'generation' | 'connectionsActive'>): string {
  return `${s.state}: ${s.workersReady}/${s.workersTarget} workers ready, generation ${s.generation}, ${s.connectionsActive} active connections`;
}

/** The Attach for systemd notify: a no-op outside systemd. */
export async function attachSystemdNotify(master: Master, config: Configuration, log: Logger): Promise<{ close(): void }> {
  const notifier = createNotifier(process.env, log);
  if (!notifier.enabled) return { close: () => notifier.close() };
  return new NotifyBridge(master, config, notifier);
}

class NotifyBridge {
  private drainStartedAt: number | undefined;
  /** Kept in STATUS= until a later reload succeeds, so `systemctl status` still shows it. */
  private abortedReload: string | undefined;
  private readonly refresh: NodeJS.Timeout;
  private readonly onState = (to: MasterSnapshot['state'], from: MasterSnapshot['state']) => this.stateChanged(to, from);
  private readonly onReload = (r: { ok: boolean; message: string }) => this.reloadFinished(r);

  constructor(private readonly master: Master, private readonly config: Configuration, private readonly notifier: Notifier) {
    master.on('state', this.onState);
    master.on('reload', this.onReload);
    this.refresh = setInterval(() => this.tick(), REFRESH_MS);
    this.refresh.unref();
    notifier.startWatchdog(() => master.snapshot().loopHealthy);
  }

  close(): void {
    clearInterval(this.refresh);
    this.master.off('state', this.onState);
    this.master.off('reload', this.onReload);
    this.notifier.close();
  }

  private stateChanged(to: MasterSnapshot['state'], from: MasterSnapshot['state']): void {
    const line = statusLine(this.master.snapshot());
    if (to === 'READY' && from === 'STARTING') return this.notifier.ready(line);
    if (to === 'RELOADING') {
      this.notifier.reloading();
      return this.notifier.status(line);
    }
    if (to === 'DRAINING') {
      this.drainStartedAt = Date.now();
      this.notifier.stopping(line);
      return this.notifier.extendTimeout(EXTEND_USEC);
    }
    // READY after RELOADING is answered by the 'reload' event, which says whether it was aborted.
    if (to !== 'READY') this.notifier.status(line);
  }

  private reloadFinished(result: { ok: boolean; message: string }): void {
    this.abortedReload = result.ok ? undefined : result.message;
    this.notifier.ready(this.status());
  }

  private status(): string {
    const line = statusLine(this.master.snapshot());
    return this.abortedReload === undefined ? line : `${line} (last reload aborted: ${this.abortedReload})`;
  }

  private tick(): void {
    const snapshot = this.master.snapshot();
    if (snapshot.state === 'DRAINING' && this.drainStartedAt !== undefined) {
      // Progress = the drain is still within sockrun's own bounded deadline and the loop runs;
      // past it, systemd's TimeoutStopSec= applies again.
      const deadline = this.drainStartedAt + this.config.drainDelayMs + this.config.gracefulTimeoutMs + DRAIN_SLACK_MS;
      if (Date.now() < deadline && snapshot.loopHealthy) this.notifier.extendTimeout(EXTEND_USEC);
    }
    if (snapshot.state !== 'STOPPED') this.notifier.status(this.status());
  }
}
