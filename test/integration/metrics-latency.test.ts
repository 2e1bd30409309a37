/**
 * How long GET /metrics takes with 2 and 16 workers, each with the app's own prom-client
 * metrics (default metrics, a counter, a histogram, gauges) pushed to the master and aggregated.
 * Printed for the record (speed goals are for `npm run bench`); the assertions only hold the
 * line against a stall: a scrape never waits for a worker.
 */
import * as path from 'node:path';
import { FIXTURES, Sockrun, cleanup, freePort, request, sleep } from '../helpers/sockrun';
import { sample, scrape } from '../helpers/prometheus';

const app = path.join(FIXTURES, 'metrics', 'app.js');
afterEach(cleanup);

const SCRAPES = 40;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

describe('scrape latency', () => {
  test.each([2, 16])('with %i workers, GET /metrics stays fast', async (workers) => {
    const port = await freePort();
    const admin = await freePort();
    const s = new Sockrun(['-w', String(workers), '-l', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--metrics-interval', '250ms', app]);
    await s.ready(60_000);
    for (let i = 0; i < 100; i++) await request({ port }, '/');
    await scrape(admin); // warm up
    const ms: number[] = [];
    let bytes = 0;
    for (let i = 0; i < SCRAPES; i++) {
      const r = await scrape(admin);
      expect(r.status).toBe(200);
      ms.push(r.ms);
      bytes = r.body.length;
      await sleep(20);
    }
    const last = (await scrape(admin)).body;
    ms.sort((a, b) => a - b);
    console.log(`GET /metrics with ${workers} workers (${SCRAPES} scrapes, ${(bytes / 1024).toFixed(0)} KiB): `
      + `min ${ms[0].toFixed(1)} ms, median ${percentile(ms, 0.5).toFixed(1)} ms, p90 ${percentile(ms, 0.9).toFixed(1)} ms, max ${ms[ms.length - 1].toFixed(1)} ms; `
      + `workers missing from scrapes: ${sample(last, 'sockrun_scrape_worker_errors_total')}`);
    expect(sample(last, 'sockrun_workers{state="LISTENING"}')).toBe(workers);
    expect(sample(last, 'app_requests_total{path="/"}')).toBe(100);
    expect(ms[ms.length - 1]).toBeLessThan(1500);
  }, 120_000);
});
