/**
 * What sockrun's own metrics count from the master's events (spawns, exits, recycles, reloads,
 * the workers' pinged totals), kept in plain numbers. It is attached before Master.start(), which
 * announces the first workers, so nothing is missed, while prom-client itself (own.ts, scrape.ts: ~12 MB of RSS and tens of ms
 * to load) waits for the first scrape: a master whose admin port only answers probes never loads
 * it (issue 16, "load only what the given options need").
 */
import type { MasterSnapshot } from '../master/master';
import type { WorkerStats } from '../protocol';
import { TotalsLedger } from './ledger';

export const EXIT_REASONS = ['crash', 'signal', 'hang', 'recycle', 'reload', 'shutdown', 'boot_failure'] as const;
export const RECYCLE_REASONS = ['connections', 'requests', 'memory', 'age'] as const;
export const RELOAD_RESULTS = ['success', 'aborted'] as const;

/** The worker as these metrics see it (master/worker-handle.ts). */
export interface ObservedWorker {
  readonly id: number;
  readonly stage: string;
  readonly spawnedAt: number;
  readonly stats: WorkerStats | undefined;
}

/** The master as these metrics see it. */
export interface ObservedMaster {
  readonly state: string;
  snapshot(): Pick<MasterSnapshot, 'generation' | 'workersTarget'>;
  liveWorkers(): ObservedWorker[];
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

export class EventTally {
  /** Worker processes spawned: one per 'spawn' (observers attach before Master.start(), which announces the first workers). */
  starts = 0;
  readonly exits: Record<string, number> = Object.fromEntries(EXIT_REASONS.map((r) => [r, 0]));
  readonly recycles: Record<string, number> = Object.fromEntries(RECYCLE_REASONS.map((r) => [r, 0]));
  readonly reloads: Record<string, number> = Object.fromEntries(RELOAD_RESULTS.map((r) => [r, 0]));
  /** Monotonic connection and request totals (ledger.ts). */
  readonly totals = new TotalsLedger(['connectionsTotal', 'requestsTotal'] as const);
  /** Durations (seconds) of successful reloads not yet taken by the renderer. */
  private pendingReloads: number[] = [];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly master: ObservedMaster) {
    this.listen('spawn', () => this.starts++);
    this.listen('exit', (w: ObservedWorker, reason: string) => {
      this.totals.retire(w);
      this.exits[reason] = (this.exits[reason] ?? 0) + 1;
    });
    this.listen('ping', (w: ObservedWorker) => {
      if (w.stats) this.totals.observe(w, w.stats);
    });
    this.listen('recycle', (_w: ObservedWorker, reason: string) => {
      this.recycles[reason] = (this.recycles[reason] ?? 0) + 1;
    });
    this.listen('reload', (r: { ok: boolean; durationMs: number }) => {
      this.reloads[r.ok ? 'success' : 'aborted']++;
      if (r.ok) this.pendingReloads.push(r.durationMs / 1000);
    });
  }

  /** Successful reload durations (seconds) since the last call, for a histogram to observe. */
  takeReloadSeconds(): number[] {
    const taken = this.pendingReloads;
    this.pendingReloads = [];
    return taken;
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private listen(event: string, listener: (...args: any[]) => void): void {
    this.master.on(event, listener);
    this.unsubscribe.push(() => this.master.off(event, listener));
  }
}
