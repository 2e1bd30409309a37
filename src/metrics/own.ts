/**
 * sockrun's own metrics (the table in docs/metrics.md), in a prom-client Registry of the
 * master, built at the first scrape. Everything is read when a scrape asks, through prom-client
 * `collect` callbacks: event counts from the EventTally (attached before Master.start(), so
 * nothing is missed while prom-client is not loaded yet), the rest from the master. The master
 * is never on the request path: connection and request counts are the workers' pings.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerStats } from '../protocol';
import { MetricFamily, parseFamilies } from './family';
import { EXIT_REASONS, EventTally, ObservedMaster, ObservedWorker, RECYCLE_REASONS, RELOAD_RESULTS } from './tally';

export type { ObservedMaster, ObservedWorker };

/** Every sockrun metric name starts with this; the app's metrics may not use it. */
export const PREFIX = 'sockrun_';
/** The master process's own Node.js and process metrics (prom-client defaults). */
export const MASTER_PREFIX = 'sockrun_master_';

const STAGES = ['SPAWNED', 'SETTLING', 'LISTENING', 'DRAINING'] as const;
/** A reload replaces every worker one at a time, each booting the app: seconds to minutes. */
const RELOAD_BUCKETS = [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];
/**
 * The master's process metrics (prom-client's default metrics: CPU, memory, event-loop lag
 * percentiles, open fds, GC, handles) are read on a timer this often, from the first scrape on,
 * never by a scrape itself: reading them costs ~0.6 ms of the master's CPU (reading /proc, the
 * event-loop histogram's percentiles), more than the rest of a render, and under a saturating
 * load every millisecond a scrape needs turns into tens of milliseconds of waiting for a CPU
 * (issue 16). A scrape shows them at most this old; the timer costs ~0.06 % of a core.
 */
const PROCESS_METRICS_EVERY_MS = 1000;

export interface Readiness {
  ready: boolean;
  ecvEnabled: boolean;
}

export class SockrunMetrics {
  readonly registry = new Registry();
  /** The master's own process metrics, apart: read every PROCESS_METRICS_EVERY_MS. */
  private readonly processRegistry = new Registry();
  private processFamilies: Promise<MetricFamily[]> | undefined;
  private processTimer: NodeJS.Timeout | undefined;
  private readonly scrapeErrors: Counter;

  constructor(master: ObservedMaster, tally: EventTally, readiness: () => Readiness) {
    const registers = [this.registry];
    const totals = tally.totals;
    const live = () => {
      const workers = master.liveWorkers();
      for (const w of workers) if (w.stats) totals.observe(w, w.stats);
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

    monotonic('sockrun_worker_starts_total', 'Worker processes spawned.', () => ({ '': tally.starts }));
    monotonic('sockrun_worker_exits_total', 'Worker processes exited, by reason (crash, signal, hang, recycle, reload, shutdown, boot_failure).',
      () => tally.exits, 'reason', EXIT_REASONS);
    monotonic('sockrun_worker_recycles_total', 'Workers due for recycling, by the limit reached (connections, requests, memory, age).',
      () => tally.recycles, 'reason', RECYCLE_REASONS);

    new Gauge({
      name: 'sockrun_connections_active', help: 'Open connections in all workers, as of their last ping.', registers,
      collect() { this.set(live().reduce((a, w) => a + (w.stats?.connectionsActive ?? 0), 0)); },
    });
    monotonic('sockrun_connections_total', 'Connections accepted by the workers (kept across worker exits).', () => (live(), { '': totals.total('connectionsTotal') }));
    monotonic('sockrun_requests_total', 'HTTP requests received by the workers (kept across worker exits).', () => (live(), { '': totals.total('requestsTotal') }));

    monotonic('sockrun_reloads_total', 'Reloads finished, by result (success, aborted).', () => tally.reloads, 'result', RELOAD_RESULTS);
    new Histogram({
      name: 'sockrun_reload_duration_seconds', help: 'Duration of successful reloads, from the signal to the last old worker gone.',
      buckets: RELOAD_BUCKETS, registers,
      collect() { for (const s of tally.takeReloadSeconds()) this.observe(s); },
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
      name: 'sockrun_scrape_worker_errors_total', help: 'Workers whose app metrics were behind (no push for 3 push intervals) or failed to collect when a scrape was rendered; it used their last values.',
      registers,
    });

    collectDefaultMetrics({ register: this.processRegistry, prefix: MASTER_PREFIX });

    /** A counter that follows the tally's numbers (which only grow), by label value. */
    function monotonic(name: string, help: string, read: () => Record<string, number>, label?: string, always: readonly string[] = []): void {
      const shown = new Map<string, number>();
      new Counter({
        name, help, registers, labelNames: label ? [label] : [],
        collect() {
          const now = read();
          for (const key of new Set([...always, ...Object.keys(now)])) {
            const was = shown.get(key);
            const value = now[key] ?? 0;
            if (was === undefined || value > was) {
              if (label) this.inc({ [label]: key }, value - (was ?? 0));
              else this.inc(value - (was ?? 0));
              shown.set(key, Math.max(was ?? 0, value));
            }
          }
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

  /** sockrun's metrics as of now, then the master's process metrics as of their last read (at most a second ago). */
  async families(): Promise<MetricFamily[]> {
    if (!this.processFamilies) {
      this.processFamilies = this.readProcess();
      this.processTimer = setInterval(() => {
        const next = this.readProcess();
        // A scrape meanwhile takes the previous read: it never waits for this one.
        next.then(() => (this.processFamilies = next), () => undefined);
      }, PROCESS_METRICS_EVERY_MS).unref();
    }
    return [...parseFamilies(await this.registry.getMetricsAsJSON()), ...await this.processFamilies];
  }

  private readProcess(): Promise<MetricFamily[]> {
    return this.processRegistry.getMetricsAsJSON().then((f) => parseFamilies(f).filter(lintClean));
  }

  /** Counts workers missing from a scrape. */
  scrapeFailed(workers: number): void {
    if (workers > 0) this.scrapeErrors.inc(workers);
  }

  close(): void {
    clearInterval(this.processTimer);
    this.registry.clear();
    this.processRegistry.clear();
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

/**
 * prom-client's default metrics include three gauges named `nodejs_active_*_total`, which
 * promtool rejects ("non-counter metrics should not have _total suffix"). sockrun's output
 * passes promtool, so the master's copies are left out: their by-type siblings
 * (sockrun_master_nodejs_active_handles{type}, …) carry the same numbers. The app's own copies
 * keep prom-client's names: dashboards built on them must keep working.
 */
function lintClean(f: MetricFamily): boolean {
  return f.type === 'counter' || !f.name.endsWith('_total');
}
