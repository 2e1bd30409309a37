/**
 * sockrun's own metrics (the table in docs/metrics.md), in a prom-client Registry of the
 * master. Events (spawn, exit, recycle, reload) increment counters as they happen; everything
 * else is read from the master when a scrape asks, through prom-client `collect` callbacks. The
 * master is never on the request path: connection and request counts are the workers' pings.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MasterSnapshot } from '../master/master';
import type { WorkerStats } from '../protocol';
import { TotalsLedger } from './ledger';

/** Every sockrun metric name starts with this; the app's metrics may not use it. */
export const PREFIX = 'sockrun_';
/** The master process's own Node.js and process metrics (prom-client defaults). */
export const MASTER_PREFIX = 'sockrun_master_';

const STAGES = ['SPAWNED', 'SETTLING', 'LISTENING', 'DRAINING'] as const;
const EXIT_REASONS = ['crash', 'signal', 'hang', 'recycle', 'reload', 'shutdown', 'boot_failure'] as const;
const RECYCLE_REASONS = ['connections', 'requests', 'memory', 'age'] as const;
const RELOAD_RESULTS = ['success', 'aborted'] as const;
/** A reload replaces every worker one at a time, each booting the app: seconds to minutes. */
const RELOAD_BUCKETS = [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];

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

export interface Readiness {
  ready: boolean;
  ecvEnabled: boolean;
}

export class SockrunMetrics {
  readonly registry = new Registry();
  private readonly totals = new TotalsLedger(['connectionsTotal', 'requestsTotal'] as const);
  private readonly scrapeErrors: Counter;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly master: ObservedMaster, readiness: () => Readiness) {
    const registers = [this.registry];
    const live = () => {
      const workers = master.liveWorkers();
      for (const w of workers) if (w.stats) this.totals.observe(w, w.stats);
      return workers;
    };

    new Gauge({
      name: 'sockrun_workers', help: 'Live worker processes by stage (SPAWNED: loading, SETTLING: listening but not yet proven, LISTENING: booted, DRAINING: on the way out).',
      labelNames: ['state'], registers,
      collect() {
        const workers = master.liveWorkers();
        for (const stage of STAGES) this.set({ state: stage }, workers.filter((w) => w.stage === stage).length);
      },
    });
    new Gauge({
      name: 'sockrun_workers_target', help: 'Workers the master keeps serving (--workers).', registers,
      collect() { this.set(master.snapshot().workersTarget); },
    });
    new Gauge({
      name: 'sockrun_generation', help: 'Current worker generation: 1 at start, bumped by every reload.', registers,
      collect() { this.set(master.snapshot().generation); },
    });

    const starts = new Counter({ name: 'sockrun_worker_starts_total', help: 'Worker processes spawned.', registers });
    const exits = new Counter({
      name: 'sockrun_worker_exits_total', help: 'Worker processes exited, by reason (crash, signal, hang, recycle, reload, shutdown, boot_failure).',
      labelNames: ['reason'], registers,
    });
    const recycles = new Counter({
      name: 'sockrun_worker_recycles_total', help: 'Workers due for recycling, by the limit reached (connections, requests, memory, age).',
      labelNames: ['reason'], registers,
    });
    for (const reason of EXIT_REASONS) exits.inc({ reason }, 0);
    for (const reason of RECYCLE_REASONS) recycles.inc({ reason }, 0);
    starts.inc(master.liveWorkers().length);

    const totals = this.totals;
    new Gauge({
      name: 'sockrun_connections_active', help: 'Open connections in all workers, as of their last ping.', registers,
      collect() { this.set(live().reduce((a, w) => a + (w.stats?.connectionsActive ?? 0), 0)); },
    });
    monotonic('sockrun_connections_total', 'Connections accepted by the workers (kept across worker exits).', () => (live(), totals.total('connectionsTotal')));
    monotonic('sockrun_requests_total', 'HTTP requests received by the workers (kept across worker exits).', () => (live(), totals.total('requestsTotal')));

    const reloads = new Counter({ name: 'sockrun_reloads_total', help: 'Reloads finished, by result (success, aborted).', labelNames: ['result'], registers });
    for (const result of RELOAD_RESULTS) reloads.inc({ result }, 0);
    const reloadSeconds = new Histogram({
      name: 'sockrun_reload_duration_seconds', help: 'Duration of successful reloads, from the signal to the last old worker gone.',
      buckets: RELOAD_BUCKETS, registers,
    });

    new Gauge({
      name: 'sockrun_ready', help: '1 when the instance takes traffic (GET /readyz answers 200), else 0.', registers,
      collect() { this.set(readiness().ready ? 1 : 0); },
    });
    new Gauge({
      name: 'sockrun_ecv_enabled', help: '1 unless ECV was disabled (POST /ecv/disable).', registers,
      collect() { this.set(readiness().ecvEnabled ? 1 : 0); },
    });
    new Gauge({
      name: 'sockrun_draining', help: '1 from the shutdown signal until the master exits.', registers,
      collect() { this.set(master.state === 'DRAINING' || master.state === 'STOPPED' ? 1 : 0); },
    });

    perWorker('sockrun_worker_event_loop_lag_seconds', 'Mean event-loop delay of the worker over its last ping interval.', (s) => s.eventLoopLagMs / 1000);
    perWorker('sockrun_worker_resident_memory_bytes', 'Resident set size of the worker process.', (s) => s.rssBytes);
    perWorker('sockrun_worker_heap_used_bytes', 'V8 heap used by the worker process.', (s) => s.heapUsedBytes);
    perWorker('sockrun_worker_connections_active', 'Open connections in the worker.', (s) => s.connectionsActive);
    new Gauge({
      name: 'sockrun_worker_start_time_seconds', help: 'When the worker in this slot was spawned, in seconds since the epoch.',
      labelNames: ['worker'], registers,
      collect() {
        this.reset();
        for (const w of bySlot(master.liveWorkers())) this.set({ worker: String(w.id) }, Math.round(w.spawnedAt / 1000));
      },
    });

    this.scrapeErrors = new Counter({
      name: 'sockrun_scrape_worker_errors_total', help: 'Workers that did not answer a scrape in time or failed to collect; that scrape used their previous values.',
      registers,
    });

    collectDefaultMetrics({ register: this.registry, prefix: MASTER_PREFIX });

    this.listen('spawn', () => starts.inc());
    this.listen('exit', (w: ObservedWorker, reason: string) => {
      this.totals.retire(w);
      exits.inc({ reason });
    });
    this.listen('ping', (w: ObservedWorker) => {
      if (w.stats) this.totals.observe(w, w.stats);
    });
    this.listen('recycle', (_w: ObservedWorker, reason: string) => recycles.inc({ reason }));
    this.listen('reload', (r: { ok: boolean; durationMs: number }) => {
      reloads.inc({ result: r.ok ? 'success' : 'aborted' });
      if (r.ok) reloadSeconds.observe(r.durationMs / 1000);
    });

    function monotonic(name: string, help: string, read: () => number): void {
      let shown = 0;
      new Counter({
        name, help, registers,
        collect() {
          const now = read();
          if (now > shown) this.inc(now - shown);
          shown = Math.max(shown, now);
        },
      });
    }
    function perWorker(name: string, help: string, read: (s: WorkerStats) => number): void {
      new Gauge({
        name, help, labelNames: ['worker'], registers,
        collect() {
          this.reset();
          for (const w of bySlot(live())) if (w.stats) this.set({ worker: String(w.id) }, read(w.stats));
        },
      });
    }
  }

  /** Counts workers that failed a scrape. */
  scrapeFailed(workers: number): void {
    if (workers > 0) this.scrapeErrors.inc(workers);
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.registry.clear();
  }

  private listen(event: string, listener: (...args: any[]) => void): void {
    this.master.on(event, listener);
    this.unsubscribe.push(() => this.master.off(event, listener));
  }
}

/**
 * One worker per slot (`worker` label "0".."N-1", bounded by the worker count): during a
 * reload or recycle a draining worker and its replacement share a slot, and the replacement
 * is the one that counts.
 */
function bySlot(workers: ObservedWorker[]): ObservedWorker[] {
  const slots = new Map<number, ObservedWorker>();
  for (const w of workers) {
    const have = slots.get(w.id);
    const better = !have
      || (have.stage === 'DRAINING' && w.stage !== 'DRAINING')
      || ((have.stage === 'DRAINING') === (w.stage === 'DRAINING') && w.spawnedAt > have.spawnedAt);
    if (better) slots.set(w.id, w);
  }
  return [...slots.values()].sort((a, b) => a.id - b.id);
}
