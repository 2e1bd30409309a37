/**
 * The admin port's view of the master: the ECV switch, the periodic checks (--ecv-monitor,
 * --validator), and the verdict built from them and the master's snapshot (checks.ts).
 *
 * Probes compute the verdict afresh from `master.snapshot()` on every request, so /readyz turns
 * 503 at the instant the master enters DRAINING (the master changes state before it tells any
 * worker to stop accepting). This class also tracks the verdict to log its changes and to tell
 * the workers (GET /ecv on the app port): on a state change it does so synchronously, inside
 * the master's 'state' event, i.e. before the drain reaches any worker.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Configuration } from '../config/resolve';
import type { Master } from '../master/master';
import { Check, CheckOutcome, livenessChecks, readinessChecks } from './checks';
import { appTarget, probeApp } from './monitor';
import { PeriodicCheck } from './periodic';
import type { Validator } from './validator';

/** A safety net for changes no master event announces (a worker moved to DRAINING by a reload). */
const REEVALUATE_MS = 1000;

export class Readiness extends EventEmitter {
  /** When the master started: cluster2's `since` header. */
  readonly since: Date;
  readonly monitor: PeriodicCheck | undefined;
  readonly validatorCheck: PeriodicCheck | undefined;
  private ecv = { enabled: true, reason: 'enabled' };
  private verdict: boolean | undefined;
  private anyListened = false;
  private deferred = false;
  private readonly timer: NodeJS.Timeout;
  private readonly subscriptions: [string, (to: string) => void][];

  constructor(
    private readonly master: Master,
    private readonly config: Configuration,
    private readonly log: Logger,
    validator: Validator | undefined,
  ) {
    super();
    this.since = new Date(Date.now() - master.snapshot().uptimeMs);
    const onResult = (name: string) => (o: CheckOutcome, changed: boolean) => {
      // Before any worker listens a failing monitor is expected, not news.
      if (changed && (o.ok || this.anyListened)) (o.ok ? log.info : log.warn).call(log, { check: name, message: o.message }, `${name} ${o.ok ? 'passes' : 'fails'}`);
      this.reevaluate();
    };
    if (config.ecvMonitor !== undefined) {
      const path = config.ecvMonitor;
      this.monitor = new PeriodicCheck('monitor', async () => {
        const target = appTarget(master.snapshot().sockets);
        if (!target) return { ok: false, message: 'no app socket to probe', at: Date.now() };
        return probeApp(target, path, config.ecvMonitorTimeoutMs);
      }, config.ecvMonitorIntervalMs, onResult('monitor'));
    }
    if (validator) {
      this.validatorCheck = new PeriodicCheck('validator', () => validator.run(config.ecvMonitorTimeoutMs), config.ecvMonitorIntervalMs, onResult('validator'));
    }
    this.subscriptions = [
      ['state', (to: string) => {
        if (to === 'DRAINING' || to === 'STOPPED') this.stopChecks();
        this.reevaluate();
        if (to === 'READY' && !this.verdict) this.logVerdict('every worker listens, but readiness fails');
      }],
      // A worker now listens: run the failing checks at once rather than a whole interval later.
      ['listening', () => {
        this.anyListened = true;
        this.kickFailingChecks();
        this.reevaluate();
      }],
      ['exit', () => this.reevaluate()],
    ];
    for (const [event, fn] of this.subscriptions) master.on(event, fn);
    this.timer = setInterval(() => this.reevaluate(), REEVALUATE_MS);
    this.timer.unref();
  }

  start(): void {
    this.monitor?.start();
    this.validatorCheck?.start();
    this.reevaluate();
  }

  readiness(): Check[] {
    return readinessChecks({
      snapshot: this.master.snapshot(),
      minReady: this.config.minReady,
      ecv: this.ecv,
      monitor: this.monitor ? this.monitor.last : undefined,
      validator: this.validatorCheck ? this.validatorCheck.last : undefined,
    });
  }

  liveness(): Check[] {
    return livenessChecks(this.master.snapshot());
  }

  /** Ready and ECV enabled: what GET /ecv answers (AVAILABLE or DISABLED). */
  isAvailable(): boolean {
    return this.readiness().every((c) => c.ok);
  }

  get ecvEnabled(): boolean {
    return this.ecv.enabled;
  }

  /** POST /ecv/enable and /ecv/disable (cluster2 ecv.control). */
  setEcv(enabled: boolean, by: string): void {
    const changed = enabled !== this.ecv.enabled;
    this.ecv = { enabled, reason: enabled ? 'enabled' : `disabled by POST /ecv/disable at ${new Date().toISOString()}` };
    if (changed) this.log.info({ ecv: enabled ? 'enabled' : 'disabled', by }, `ECV ${enabled ? 'enabled' : 'disabled'}`);
    this.reevaluate();
  }

  close(): void {
    clearInterval(this.timer);
    this.stopChecks();
    for (const [event, fn] of this.subscriptions) this.master.off(event, fn);
  }

  /** Recomputes the verdict now, and once more after the master finished the current event. */
  private reevaluate(): void {
    this.evaluate();
    if (this.deferred) return;
    this.deferred = true;
    setImmediate(() => {
      this.deferred = false;
      this.evaluate();
    });
  }

  private evaluate(): void {
    const checks = this.readiness();
    const available = checks.every((c) => c.ok);
    if (available === this.verdict) return;
    const first = this.verdict === undefined;
    this.verdict = available;
    // Not ready at start is expected; from then on every change is logged, with its reasons.
    if (!first || available) this.logVerdict(available ? 'readiness: ready' : 'readiness: not ready', checks);
    this.emit('change', available);
  }

  private logVerdict(msg: string, checks = this.readiness()): void {
    const failing = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
    const state = this.master.snapshot().state;
    const expected = failing.length === 0 || state === 'DRAINING' || state === 'STOPPED';
    (expected ? this.log.info : this.log.warn).call(this.log, { ready: failing.length === 0, failing }, msg);
  }

  private kickFailingChecks(): void {
    for (const c of [this.monitor, this.validatorCheck]) if (c && !c.last?.ok) void c.runNow();
  }

  private stopChecks(): void {
    this.monitor?.stop();
    this.validatorCheck?.stop();
  }
}
