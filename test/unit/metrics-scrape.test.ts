import { EventEmitter } from 'node:events';
import pino from 'pino';
import { Counter, Gauge, Histogram, Registry, RegistryContentType, Summary } from 'prom-client';
import { AppMetrics } from '../../src/metrics/app';
import { expose, negotiate } from '../../src/metrics/exposition';
import { MetricFamily, parseFamilies } from '../../src/metrics/family';
import { PushedMetrics } from '../../src/metrics/pushes';
import { RENDER_REUSE_MS, Scrape } from '../../src/metrics/scrape';
import { EventTally } from '../../src/metrics/tally';
import type { MasterMessage, WorkerStats } from '../../src/protocol';

const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const INTERVAL_MS = 1000;

const stats = (s: Partial<WorkerStats> = {}): WorkerStats => ({ connectionsActive: 0, connectionsTotal: 0, requestsTotal: 0, rssBytes: 1e6, heapUsedBytes: 1e5, eventLoopLagMs: 2, ...s });

/** The test's clock: renders and staleness read it; tests move it. */
let clock = 0;
const now = () => clock;

/** A worker that pushes `families()` when asked and when told to (or stays silent). */
class FakeWorker {
  stage = 'LISTENING';
  readonly spawnedAt = Date.now();
  stats: WorkerStats | undefined = stats();
  readonly child = { connected: true };
  silent = false;
  asked = 0;
  private seq = 0;
  constructor(readonly master: FakeMaster, readonly id: number, public families: () => unknown[] = () => []) {}
  send(m: MasterMessage): void {
    if (m.type !== 'sockrun:collect-metrics') return;
    this.asked++;
    if (!this.silent) this.push(true);
  }
  /** A periodic push: `changed` (by default all families, as if all changed). */
  push(full = false, changed = this.families()): void {
    this.master.emit('message', this, { type: 'sockrun:metrics-push', seq: ++this.seq, full, families: changed, removed: [] });
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
  /** Spawns a worker that starts listening at once. */
  spawn(id: number, families?: () => unknown[]): FakeWorker {
    const w = new FakeWorker(this, id, families);
    this.workers.push(w);
    this.emit('spawn', w);
    this.emit('listening', w);
    return w;
  }
}

const appCounter = (value: number) => [{ name: 'app_jobs_total', help: 'Jobs.', type: 'counter', aggregator: 'sum', values: [{ value, labels: {} }] }];
const sample = (body: string | Buffer, name: string) => {
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(String(body));
  return m ? Number(m[1]) : undefined;
};

interface Tested { scrape: Scrape; pushes: PushedMetrics; close(): void }
let made: Tested[] = [];
afterEach(() => {
  for (const t of made) t.close();
  made = [];
});
/** The metrics of `master` as the admin port builds them (createMetrics), on the test's clock. */
function metricsOf(master: FakeMaster, ready = true): Tested {
  const tally = new EventTally(master as never);
  const pushes = new PushedMetrics(master as never, new AppMetrics(now), INTERVAL_MS, now);
  const scrape = new Scrape(master as never, tally, pushes, () => ({ ready, ecvEnabled: true }), pino({ level: 'silent' }), now);
  const t = { scrape, pushes, close: () => { scrape.close(); pushes.close(); tally.close(); } };
  made.push(t);
  return t;
}
/** Renders a scrape a second later than the last one (past the render reuse window). */
async function render(t: Tested, accept?: string): Promise<{ body: string; contentType: string }> {
  clock += 1000;
  const r = await t.scrape.render(accept);
  return { body: Buffer.concat(r.body).toString(), contentType: r.contentType };
}
function scrapeOf(master: FakeMaster, ready = true): { render(accept: string | undefined): Promise<{ body: string; contentType: string }> } {
  const t = metricsOf(master, ready);
  return { render: (accept) => render(t, accept) };
}

describe('a scrape', () => {
  test('has every metric the issue asks for, with the worker label bounded by the slots', async () => {
    const master = new FakeMaster();
    // Attached before the workers are announced, as the admin port attaches before Master.start().
    const scrape = scrapeOf(master);
    master.spawn(0);
    master.spawn(1);
    const { body, contentType } = await scrape.render(undefined);
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

  test('a worker that stops pushing: scrapes answer at once with its last values; once three intervals behind it counts as missing', async () => {
    const master = new FakeMaster();
    const t = metricsOf(master);
    const a = master.spawn(0, () => appCounter(7));
    const b = master.spawn(1, () => appCounter(3));
    a.families = () => appCounter(9);
    a.silent = true; // stopped: no more pushes
    let { body } = await render(t); // 1 s after its last push: not behind yet
    expect(sample(body, 'app_jobs_total')).toBe(10);
    expect(sample(body, 'sockrun_scrape_worker_errors_total')).toBe(0);
    clock += 3 * INTERVAL_MS;
    b.push(); // b keeps pushing on time
    ({ body } = await render(t));
    expect(sample(body, 'app_jobs_total')).toBe(10); // a's last values stand in
    expect(sample(body, 'sockrun_scrape_worker_errors_total')).toBe(1);
    a.silent = false;
    a.push(); // back on time
    ({ body } = await render(t));
    expect(sample(body, 'app_jobs_total')).toBe(12);
    expect(sample(body, 'sockrun_scrape_worker_errors_total')).toBe(1);
  });

  test('an exited worker is not missing', async () => {
    const master = new FakeMaster();
    const t = metricsOf(master);
    master.spawn(0).exit('crash');
    clock += 10 * INTERVAL_MS;
    expect(sample((await render(t)).body, 'sockrun_scrape_worker_errors_total')).toBe(0);
  });

  test('scrapes never ask the workers; scrapes within the reuse window share one render', async () => {
    const master = new FakeMaster();
    const w = master.spawn(0, () => appCounter(1));
    const t = metricsOf(master);
    expect(w.asked).toBe(1); // once, when it started listening
    const [a, b] = await Promise.all([t.scrape.render(undefined), t.scrape.render(undefined)]);
    clock += RENDER_REUSE_MS - 1;
    const c = await t.scrape.render(undefined);
    expect(b.body).toBe(a.body); // the same Buffer, not a copy
    expect(c.body).toBe(a.body);
    clock += 1;
    expect((await t.scrape.render(undefined)).body).not.toBe(a.body);
    expect((await t.scrape.render(PROMETHEUS_ACCEPT)).contentType).toBe(Registry.OPENMETRICS_CONTENT_TYPE);
    for (let i = 0; i < 5; i++) await render(t);
    expect(w.asked).toBe(1);
  });

  test('a family that did not change is not written again: its Buffer is sent as it was', async () => {
    const master = new FakeMaster();
    const t = metricsOf(master);
    const big = { name: 'app_items_total', help: 'Items.', type: 'counter', values: Array.from({ length: 5000 }, (_, i) => ({ value: i, labels: { item: `item-${i}` } })) };
    const w = master.spawn(0, () => [...appCounter(1), big]);
    clock += 1000;
    const first = await t.scrape.render(undefined);
    w.push(false, appCounter(2)); // what a worker sends: only the family that changed
    clock += 1000;
    const second = await t.scrape.render(undefined);
    const text = (r: typeof first) => Buffer.concat(r.body).toString();
    expect(sample(text(first), 'app_jobs_total')).toBe(1);
    expect(sample(text(second), 'app_jobs_total')).toBe(2);
    expect(sample(text(second), 'app_items_total{item="item-4999"}')).toBe(4999);
    const bigBlock = (r: typeof first) => r.body.find((b) => b.includes('item-4999'));
    expect(bigBlock(second)).toBe(bigBlock(first));
  });

  test('booting workers are not asked, and not missing', async () => {
    const master = new FakeMaster();
    const w = new FakeWorker(master, 0);
    w.stage = 'SPAWNED';
    master.workers.push(w);
    master.emit('spawn', w);
    const t = metricsOf(master);
    clock += 10 * INTERVAL_MS;
    expect(sample((await render(t)).body, 'sockrun_scrape_worker_errors_total')).toBe(0);
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
    const { body } = await scrapeOf(master, false).render(undefined);
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

  test.each(['prometheus', 'openmetrics'] as const)('%s: written as prom-client writes it, family for family (NaN spelled as the format says)', async (format) => {
    const registry = new Registry<RegistryContentType>();
    registry.setContentType(format === 'openmetrics' ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
    const registers = [registry];
    new Counter({ name: 'app_jobs_total', help: 'Jobs "done" \\ per\nline.', labelNames: ['path', 'code'], registers }).inc({ path: '/x"y\\z\n', code: 200 }, 3);
    new Counter({ name: 'app_plain_total', help: 'No labels.', registers }).inc();
    const g = new Gauge({ name: 'app_temperature', help: 'Odd values.', labelNames: ['kind'], registers });
    g.set({ kind: 'nan' }, NaN);
    g.set({ kind: 'inf' }, Infinity);
    g.set({ kind: 'minus' }, -Infinity);
    g.set({ kind: 'small' }, 1.5e-7);
    new Histogram({ name: 'app_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 1], registers }).observe({ route: '/a' }, 0.5);
    new Summary({ name: 'app_size_bytes', help: 'Sizes.', percentiles: [0.5, 0.99], registers }).observe(42);
    const families = parseFamilies(await registry.getMetricsAsJSON());
    const theirs = (await registry.metrics()).replace(/ Nan$/gm, ' NaN');
    expect(expose(families, format).body).toBe(theirs);
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
