/**
 * Prometheus metrics for the admin port's GET /metrics (DESIGN §7; names, labels and
 * aggregation rules in docs/metrics.md). `createMetrics(master, config, log)` returns the
 * renderer the admin port calls on every scrape.
 *
 * Layout: own.ts (sockrun's metrics, prom-client in the master), collect.ts + app.ts (the app's
 * own prom-client metrics, asked from the workers and aggregated so that counters never go
 * backwards), exposition.ts (text or OpenMetrics), scrape.ts (one scrape). The worker's side is
 * worker/metrics.ts.
 */
import type { Logger } from 'pino';
import { readinessOf } from '../admin';
import type { Configuration } from '../config/resolve';
import type { Master } from '../master/master';

export interface MetricsRenderer {
  /**
   * Renders the scrape for this Accept header (Prometheus text, or OpenMetrics when asked).
   * Never rejects and never waits for workers longer than COLLECT_TIMEOUT_MS (scrape.ts): a
   * worker that does not answer makes the scrape partial, not failed.
   */
  render(accept: string | undefined): Promise<{ contentType: string; body: string }>;
  /** Stops listening to the master. */
  close(): void;
}

export function createMetrics(master: Master, _config: Configuration, log: Logger): MetricsRenderer {
  // Loaded here, not at the top: a master without --admin never loads prom-client.
  const { Scrape } = require('./scrape') as typeof import('./scrape');
  return new Scrape(master, () => readinessOf(master) ?? fallbackReadiness(master), log);
}

/** Without the admin port's Readiness (a programmatic master): all workers listening and not draining. */
function fallbackReadiness(master: Master): { ready: boolean; ecvEnabled: boolean } {
  const s = master.snapshot();
  return { ready: (s.state === 'READY' || s.state === 'RELOADING') && s.workersReady >= s.workersTarget, ecvEnabled: true };
}
