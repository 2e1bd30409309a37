import { EventEmitter } from 'node:events';
import pino from 'pino';
import { Registry } from 'prom-client';
import { expose, negotiate } from '../../src/metrics/exposition';
import type { MetricFamily } from '../../src/metrics/family';
import { Scrape } from '../../src/metrics/scrape';
import type { MasterMessage, WorkerStats } from '../../src/protocol';

const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

const stats = (s: Partial<WorkerStats> = {}): WorkerStats => ({ connectionsActive: 0, connectionsTotal: 0, requestsTotal: 0, rssBytes: 1e6, heapUsedBytes: 1e5, eventLoopLagMs: 2, ...s });

/** A worker that answers metrics requests with `families()` (or stays silent). */
class FakeWorker {
  stage = 'LISTENING';
  readonly spawnedAt = Date.now();
  stats: WorkerStats | undefined = stats();
  readonly child = { connected: true };
  silent = false;
  asked = 0;
  constructor(readonly master: FakeMaster, readonly id: number, public families: () => unknown[] = () => []) {}
  send(m: MasterMessage): void {
    if (m.type !== 'sockrun:collect-metrics') return;
    this.asked++;
    if (this.silent) return;
    setImmediate(() => this.master.emit('message', this, { type: 'sockrun:metrics', id: m.id, metrics: this.families() }));
  }
  ping(s: Partial<WorkerStats>): void {
    this.stats = stats(s);
    this.master.emit('ping', this);
  }
  exit(reason: string): void {
    this.stage = 'EXITED';
    this.master.workers = this.master.workers.filter((w) => w !== this);
    this.master.emit('exit', this, reason);
  }
}

class FakeMaster extends EventEmitter {
  state = 'READY';
  generation = 1;
  workers: FakeWorker[] = [];
  snapshot() {
    return { generation: this.generation, workersTarget: 2 };
  }
  liveWorkers() {
    return this.workers;
  }
  spawn(id: number, families?: () => unknown[]): FakeWorker {
    const w = new FakeWorker(this, id, families);
    this.workers.push(w);
    this.emit('spawn', w);
    return w;
  }
}

const appCounter = (value: number) => [{ name: 'app_jobs_total', help: 'Jobs.', type: 'counter', aggregator: 'sum', values: [{ value, labels: {} }] }];
const sample = (body: string, name: string) => {
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : undefined;
};

let scrapes: Scrape[] = [];
afterEach(() => {
  for (const s of scrapes) s.close();
  scrapes = [];
});
function scrapeOf(master: FakeMaster, timeoutMs = 200, ready = true): Scrape {
  const s = new Scrape(master as never, () => ({ ready, ecvEnabled: true }), pino({ level: 'silent' }), timeoutMs);
  scrapes.push(s);
  return s;
}

describe('a scrape', () => {
  test('has every metric the issue asks for, with the worker label bounded by the slots', async () => {
    const master = new FakeMaster();
    master.spawn(0);
    master.spawn(1);
    const { body, contentType } = await scrapeOf(master).render(undefined);
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const name of [
      'sockrun_workers{state="LISTENING"} 2', 'sockrun_worker_starts_total 2', 'sockrun_worker_exits_total{reason="boot_failure"} 0',
      'sockrun_worker_recycles_total{reason="age"} 0', 'sockrun_connections_active 0', 'sockrun_connections_total 0', 'sockrun_requests_total 0',
      'sockrun_reloads_total{result="aborted"} 0', 'sockrun_reload_duration_seconds_count 0', 'sockrun_ready 1', 'sockrun_ecv_enabled 1',
      'sockrun_draining 0', 'sockrun_worker_event_loop_lag_seconds{worker="1"} 0.002', 'sockrun_worker_resident_memory_bytes{worker="0"} 1000000',
      'sockrun_scrape_worker_errors_total 0',
    ]) expect(body).toContain(`\n${name}\n`);
    expect(body).toMatch(/^sockrun_master_process_resident_memory_bytes \d+$/m);
    expect(body).toMatch(/^sockrun_master_nodejs_active_handles\{/m); // no `_total` on a gauge
  });

  test('counts exits by reason, recycles, reloads and their duration from the master events', async () => {
    const master = new FakeMaster();
    const scrape = scrapeOf(master);
    const w = master.spawn(0);
    master.emit('recycle', w, 'memory');
    w.exit('recycle');
    master.spawn(0);
    master.emit('reload', { ok: true, generation: 2, durationMs: 1800, message: '' });
    master.emit('reload', { ok: false, generation: 3, durationMs: 300, message: '' });
    const { body } = await scrape.render(undefined);
    expect(sample(body, 'sockrun_worker_exits_total{reason="recycle"}')).toBe(1);
    expect(sample(body, 'sockrun_worker_recycles_total{reason="memory"}')).toBe(1);
    expect(sample(body, 'sockrun_worker_starts_total')).toBe(2);
    expect(sample(body, 'sockrun_reloads_total{result="success"}')).toBe(1);
    expect(sample(body, 'sockrun_reloads_total{result="aborted"}')).toBe(1);
    expect(sample(body, 'sockrun_reload_duration_seconds_bucket{le="2.5"}')).toBe(1);
    expect(sample(body, 'sockrun_reload_duration_seconds_bucket{le="1"}')).toBe(0);
  });

  test('connection and request totals come from pings and survive a worker exit and a late final ping', async () => {
    const master = new FakeMaster();
    const scrape = scrapeOf(master);
    const a = master.spawn(0);
    const b = master.spawn(1);
    a.ping({ connectionsTotal: 10, requestsTotal: 30, connectionsActive: 2 });
    b.ping({ connectionsTotal: 5, requestsTotal: 5, connectionsActive: 1 });
    let body = (await scrape.render(undefined)).body;
    expect(sample(body, 'sockrun_connections_total')).toBe(15);
    expect(sample(body, 'sockrun_connections_active')).toBe(3);
    a.exit('reload');
    a.ping({ connectionsTotal: 11, requestsTotal: 31 }); // its final ping, processed after the exit
    body = (await scrape.render(undefined)).body;
    expect(sample(body, 'sockrun_connections_total')).toBe(16);
    expect(sample(body, 'sockrun_requests_total')).toBe(36);
    expect(sample(body, 'sockrun_connections_active')).toBe(1);
  });

  test('a draining worker and its replacement share a slot: the replacement is the one shown', async () => {
    const master = new FakeMaster();
    const old = master.spawn(0);
    old.stage = 'DRAINING';
    old.stats = stats({ rssBytes: 1 });
    const fresh = master.spawn(0);
    fresh.stats = stats({ rssBytes: 2 });
    const { body } = await scrapeOf(master).render(undefined);
    expect(body.match(/^sockrun_worker_resident_memory_bytes\{.*$/gm)).toEqual(['sockrun_worker_resident_memory_bytes{worker="0"} 2']);
    expect(sample(body, 'sockrun_workers{state="DRAINING"}')).toBe(1);
  });

  test('aggregates the app metrics of every worker and keeps an exited worker\'s counts', async () => {
    const master = new FakeMaster();
    const scrape = scrapeOf(master);
    const a = master.spawn(0, () => appCounter(7));
    master.spawn(1, () => appCounter(3));
    expect(sample((await scrape.render(undefined)).body, 'app_jobs_total')).toBe(10);
    a.exit('crash');
    master.spawn(0, () => appCounter(0));
    expect(sample((await scrape.render(undefined)).body, 'app_jobs_total')).toBe(10);
  });

  test('a worker that does not answer makes the scrape partial, not failed and not slow; its last values stand in', async () => {
    const master = new FakeMaster();
    const scrape = scrapeOf(master, 200);
    const a = master.spawn(0, () => appCounter(7));
    master.spawn(1, () => appCounter(3));
    await scrape.render(undefined);
    a.silent = true;
    const started = Date.now();
    const { body } = await scrape.render(undefined);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1000);
    expect(sample(body, 'app_jobs_total')).toBe(10);
    expect(sample(body, 'sockrun_scrape_worker_errors_total')).toBe(1);
  });

  test('a worker that exits while asked is not an error', async () => {
    const master = new FakeMaster();
    const scrape = scrapeOf(master, 5000);
    const a = master.spawn(0);
    a.silent = true;
    const pending = scrape.render(undefined);
    setTimeout(() => a.exit('crash'), 20);
    const { body } = await pending;
    expect(sample(body, 'sockrun_scrape_worker_errors_total')).toBe(0);
  });

  test('scrapes that arrive together share one question to the workers', async () => {
    const master = new FakeMaster();
    const w = master.spawn(0, () => appCounter(1));
    const scrape = scrapeOf(master);
    await Promise.all([scrape.render(undefined), scrape.render(undefined), scrape.render(PROMETHEUS_ACCEPT)]);
    expect(w.asked).toBe(1);
  });

  test('booting workers are not asked', async () => {
    const master = new FakeMaster();
    const w = master.spawn(0);
    w.stage = 'SPAWNED';
    await scrapeOf(master).render(undefined);
    expect(w.asked).toBe(0);
  });

  test('app metrics named sockrun_* are dropped; garbage from a worker is an error, not a failed scrape', async () => {
    const master = new FakeMaster();
    master.spawn(0, () => [{ name: 'sockrun_ready', help: 'x', type: 'gauge', values: [{ value: 42, labels: {} }] }]);
    master.spawn(1, () => 'garbage' as never);
    const { body } = await scrapeOf(master).render(undefined);
    expect(sample(body, 'sockrun_ready')).toBe(1);
    expect(sample(body, 'sockrun_scrape_worker_errors_total')).toBe(1);
  });

  test('readiness, ECV and draining follow the master', async () => {
    const master = new FakeMaster();
    master.state = 'DRAINING';
    const { body } = await scrapeOf(master, 200, false).render(undefined);
    expect(sample(body, 'sockrun_ready')).toBe(0);
    expect(sample(body, 'sockrun_draining')).toBe(1);
  });
});

describe('the format', () => {
  test.each([
    [undefined, 'prometheus'],
    ['*/*', 'prometheus'],
    ['text/plain', 'prometheus'],
    [PROMETHEUS_ACCEPT, 'openmetrics'],
    ['application/openmetrics-text', 'openmetrics'],
    ['application/openmetrics-text; version=1.0.0; charset=utf-8', 'openmetrics'],
    ['text/plain;q=0.9, application/openmetrics-text;q=0.5', 'prometheus'],
    ['application/openmetrics-text;version=9.9.9', 'prometheus'],
    ['application/openmetrics-text;q=0', 'prometheus'],
  ])('Accept %p gets %s', (accept, format) => {
    expect(negotiate(accept)).toBe(format);
  });

  test('OpenMetrics: counter families without _total, samples with it, # EOF at the end', async () => {
    const master = new FakeMaster();
    master.spawn(0, () => appCounter(2));
    const { body, contentType } = await scrapeOf(master).render(PROMETHEUS_ACCEPT);
    expect(contentType).toBe(Registry.OPENMETRICS_CONTENT_TYPE);
    expect(body).toContain('# TYPE app_jobs counter\napp_jobs_total 2\n');
    expect(body).toContain('# TYPE sockrun_connections counter\nsockrun_connections_total 0\n');
    expect(body.endsWith('\n# EOF\n')).toBe(true);
    // And the next text scrape is not affected by the renaming.
    expect((await scrapeOf(master).render(undefined)).body).toContain('# TYPE sockrun_connections_total counter\n');
  });

  test('OpenMetrics: a gauge that would duplicate a counter family is left out rather than failing the scrape', async () => {
    const families: MetricFamily[] = [
      { name: 'x_total', help: 'c', type: 'counter', values: [{ value: 1, labels: {} }] },
      { name: 'x', help: 'g', type: 'gauge', values: [{ value: 2, labels: {} }] },
    ];
    expect((await expose(families, 'openmetrics')).body).not.toContain('x 2');
    expect((await expose(families, 'prometheus')).body).toContain('x 2');
  });
});
