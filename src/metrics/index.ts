/**
 * Seam between the admin port and the metrics module (issue 6 fills it in):
 * `createMetrics(master, config, log)` returns a renderer for GET /metrics.
 */
import type { Logger } from 'pino';
import type { Configuration } from '../config/resolve';
import type { Master } from '../master/master';

export interface MetricsRenderer {
  /** Renders the scrape for this Accept header (Prometheus text, or OpenMetrics when asked). */
  render(accept: string | undefined): Promise<{ contentType: string; body: string }>;
  close(): void;
}

export function createMetrics(_master: Master, _config: Configuration, _log: Logger): MetricsRenderer {
  return {
    render: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '' }),
    close: () => {},
  };
}
