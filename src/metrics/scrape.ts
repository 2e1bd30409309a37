/**
 * One GET /metrics: ask the workers for the app's metrics (bounded wait), read sockrun's own
 * registry, aggregate, write the negotiated format. Loaded by index.ts only when an admin port
 * exists, so a master without one never loads prom-client (~12 MB RSS, ~160 ms to require).
 */
import type { Logger } from 'pino';
import { AppMetrics } from './app';
import { CollectorSource, WorkerCollector } from './collect';
import { expose, negotiate } from './exposition';
import { MetricFamily, parseFamilies } from './family';
import type { MetricsRenderer } from './index';
import { ObservedMaster, PREFIX, Readiness, SockrunMetrics } from './own';

/**
 * How long a scrape waits for the workers' app metrics. A healthy worker answers in a few
 * milliseconds; one that is busy or hung must not stall the scrape: half of a 1 s scrape
 * interval, so that even Prometheus' tightest common setting never times out on us.
 */
export const COLLECT_TIMEOUT_MS = 500;
/** At most one warning per this interval about workers missing from scrapes. */
const WARN_EVERY_MS = 60_000;

export class Scrape implements MetricsRenderer {
  private readonly own: SockrunMetrics;
  private readonly collector: WorkerCollector;
  private readonly reported = new Set<string>();
  private lastWarnAt = 0;

  constructor(master: ObservedMaster & CollectorSource, readiness: () => Readiness, private readonly log: Logger, timeoutMs = COLLECT_TIMEOUT_MS) {
    this.own = new SockrunMetrics(master, readiness);
    this.collector = new WorkerCollector(master, new AppMetrics(), timeoutMs);
  }

  async render(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const round = await this.collector.collect();
    this.own.scrapeFailed(round.failed);
    if (round.failed > 0 && Date.now() - this.lastWarnAt > WARN_EVERY_MS) {
      this.lastWarnAt = Date.now();
      this.log.warn({ asked: round.asked, failed: round.failed, reasons: round.reasons }, 'metrics scrape partial: workers missing keep their previous values');
    }
    const own = parseFamilies(await this.own.registry.getMetricsAsJSON()).filter(lintClean);
    let app: MetricFamily[] = [];
    try {
      app = this.appFamilies(new Set(own.map((f) => f.name)));
    } catch (err) {
      // Never a failed scrape: sockrun's own metrics still go out.
      this.own.scrapeFailed(1);
      this.log.error({ err }, 'could not aggregate the app metrics; this scrape has sockrun metrics only');
    }
    return expose([...own, ...app], negotiate(accept));
  }

  close(): void {
    this.collector.close();
    this.own.close();
  }

  /** The app's families, minus any that would collide with sockrun's own names. */
  private appFamilies(taken: Set<string>): MetricFamily[] {
    return this.collector.app.families().filter((f) => {
      if (!f.name.startsWith(PREFIX) && !taken.has(f.name)) return true;
      if (!this.reported.has(f.name)) {
        this.reported.add(f.name);
        this.log.warn({ metric: f.name }, `app metric dropped: names starting with ${PREFIX} are sockrun's`);
      }
      return false;
    });
  }
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
