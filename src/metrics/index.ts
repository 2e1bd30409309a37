/**
 * Prometheus metrics for the admin port's GET /metrics (DESIGN §7; names, labels, aggregation
 * and freshness in docs/metrics.md). `createMetrics()` returns the renderer the admin port calls
 * on every scrape.
 *
 * Layout: tally.ts (event counts) and pushes.ts + app.ts (the app's own prom-client metrics as
 * the workers push them, aggregated so that counters never go backwards) are attached before
 * Master.start() and need no prom-client; own.ts (sockrun's metrics in a prom-client registry),
 * exposition.ts (text or OpenMetrics) and scrape.ts (one scrape) are loaded at the first scrape.
 * The worker's side is worker/metrics.ts.
 */
import type { Logger } from 'pino';
import type { Master } from '../master/master';
import { AppMetrics } from './app';
import { PushedMetrics } from './pushes';
import { EventTally } from './tally';

/** One rendered scrape: its body in pieces, shared by every client it is sent to, never copied per client. */
export interface Rendered {
  contentType: string;
  body: Buffer[];
}

export interface MetricsRenderer {
  /**
   * Renders the scrape for this Accept header (Prometheus text, or OpenMetrics when asked), from
   * what the workers already pushed: never asks or waits for a worker. A worker that is behind
   * makes the scrape partial (its last values), not failed.
   */
  render(accept: string | undefined): Promise<Rendered>;
  /** Stops listening to the master. */
  close(): void;
}

export interface MetricsOptions {
  /** How often the workers push the app's metrics (--metrics-interval). */
  intervalMs: number;
  /** The admin port's verdict, for sockrun_ready and sockrun_ecv_enabled. */
  readiness: () => { ready: boolean; ecvEnabled: boolean };
}

/**
 * Starts counting the master's events and receiving the workers' pushes. Call before the first
 * spawn. prom-client is loaded at the first render.
 */
export function createMetrics(master: Master, options: MetricsOptions, log: Logger): MetricsRenderer {
  const tally = new EventTally(master);
  const pushes = new PushedMetrics(master, new AppMetrics(), options.intervalMs);
  let scrape: MetricsRenderer | undefined;
  return {
    render(accept) {
      if (!scrape) {
        // Loaded here, not at the top: a master that is never scraped never loads prom-client.
        const { Scrape } = require('./scrape') as typeof import('./scrape');
        scrape = new Scrape(master, tally, pushes, options.readiness, log);
      }
      return scrape.render(accept);
    },
    close() {
      scrape?.close();
      pushes.close();
      tally.close();
    },
  };
}
