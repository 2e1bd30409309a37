import { AppMetrics } from '../../src/metrics/app';
import { MetricFamily, parseFamilies } from '../../src/metrics/family';
import { TotalsLedger } from '../../src/metrics/ledger';

const counter = (value: number, labels: Record<string, string> = {}): MetricFamily => ({
  name: 'app_requests_total', help: 'Requests.', type: 'counter', aggregator: 'sum', values: [{ value, labels }],
});
const gauge = (name: string, value: number, aggregator?: string): MetricFamily => ({ name, help: name, type: 'gauge', aggregator, values: [{ value, labels: {} }] });
const histogram = (counts: [number, number, number], sum: number): MetricFamily => ({
  name: 'app_seconds', help: 'Latency.', type: 'histogram', aggregator: 'sum',
  values: [
    { value: counts[0], labels: { le: 0.1 }, metricName: 'app_seconds_bucket' },
    { value: counts[1], labels: { le: 1 }, metricName: 'app_seconds_bucket' },
    { value: counts[2], labels: { le: '+Inf' }, metricName: 'app_seconds_bucket' },
    { value: sum, labels: {}, metricName: 'app_seconds_sum' },
    { value: counts[2], labels: {}, metricName: 'app_seconds_count' },
  ],
});
const value = (app: AppMetrics, name: string, metricName = name, labels: Record<string, string | number> = {}) => {
  const f = app.families().find((x) => x.name === name);
  return f?.values.find((v) => (v.metricName ?? f.name) === metricName && JSON.stringify(v.labels) === JSON.stringify(labels))?.value;
};

describe('app metrics across workers', () => {
  test('counters are summed over workers, and a worker that exits keeps its share: the sum never goes down', () => {
    const app = new AppMetrics();
    app.update(1, [counter(10)], 1);
    app.update(2, [counter(5)], 1);
    expect(value(app, 'app_requests_total')).toBe(15);
    app.retire(1);
    expect(value(app, 'app_requests_total')).toBe(15);
    app.update(3, [counter(0)], 1); // its replacement starts from zero
    app.update(2, [counter(7)], 2);
    expect(value(app, 'app_requests_total')).toBe(17);
    app.retire(2);
    app.retire(3);
    expect(value(app, 'app_requests_total')).toBe(17); // every worker gone (a reload), nothing lost
  });

  test('labelled series are kept one by one', () => {
    const app = new AppMetrics();
    app.update(1, [counter(3, { path: '/a' })], 1);
    app.update(2, [counter(4, { path: '/b' })], 1);
    app.retire(1);
    expect(value(app, 'app_requests_total', 'app_requests_total', { path: '/a' })).toBe(3);
    expect(value(app, 'app_requests_total', 'app_requests_total', { path: '/b' })).toBe(4);
  });

  test('histograms keep buckets, _sum and _count of exited workers, buckets in order', () => {
    const app = new AppMetrics();
    app.update(1, [histogram([1, 2, 3], 1.5)], 1);
    app.update(2, [histogram([4, 4, 4], 0.2)], 1);
    app.retire(1);
    const f = app.families().find((x) => x.name === 'app_seconds')!;
    expect(f.values.map((v) => [v.metricName, v.labels.le, v.value])).toEqual([
      ['app_seconds_bucket', 0.1, 5],
      ['app_seconds_bucket', 1, 6],
      ['app_seconds_bucket', '+Inf', 7],
      ['app_seconds_sum', undefined, 1.7],
      ['app_seconds_count', undefined, 7],
    ]);
  });

  test('gauges combine the live workers only, by their prom-client aggregator (sum by default)', () => {
    const app = new AppMetrics();
    const fams = (a: number) => ['sum', 'max', 'min', 'average', 'first', undefined].map((agg) => gauge(`g_${agg ?? 'default'}`, a, agg));
    app.update(1, fams(2), 1);
    app.update(2, fams(6), 1);
    expect(value(app, 'g_sum')).toBe(8);
    expect(value(app, 'g_default')).toBe(8);
    expect(value(app, 'g_max')).toBe(6);
    expect(value(app, 'g_min')).toBe(2);
    expect(value(app, 'g_average')).toBe(4);
    expect(value(app, 'g_first')).toBe(2);
    app.retire(2);
    expect(value(app, 'g_sum')).toBe(2);
    app.retire(1);
    expect(app.families().map((f) => f.name)).toEqual([]);
  });

  test('a metric whose aggregator is omit is left out', () => {
    const app = new AppMetrics();
    app.update(1, [gauge('process_start_time_seconds', 1, 'omit'), { ...counter(1), aggregator: 'omit' }], 1);
    app.retire(1);
    expect(app.families()).toEqual([]);
  });

  test('summaries keep _sum and _count; quantiles are the highest of the live workers', () => {
    const summary = (p99: number, sum: number, count: number): MetricFamily => ({
      name: 'app_latency', help: 'x', type: 'summary', aggregator: 'sum', values: [
        { value: p99, labels: { quantile: 0.99 } },
        { value: sum, labels: {}, metricName: 'app_latency_sum' },
        { value: count, labels: {}, metricName: 'app_latency_count' },
      ],
    });
    const app = new AppMetrics();
    app.update(1, [summary(0.5, 10, 100)], 1);
    app.update(2, [summary(0.2, 1, 10)], 1);
    expect(value(app, 'app_latency', 'app_latency', { quantile: 0.99 })).toBe(0.5);
    app.retire(1);
    expect(value(app, 'app_latency', 'app_latency', { quantile: 0.99 })).toBe(0.2);
    expect(value(app, 'app_latency', 'app_latency_count')).toBe(110);
  });

  test('a final report that arrives after the exit adds only what grew since the last answer', () => {
    const app = new AppMetrics();
    app.update(1, [counter(10)], 1);
    app.retire(1);
    app.update(1, [counter(12)], Infinity);
    expect(value(app, 'app_requests_total')).toBe(12);
    // A worker that never answered a scrape: its final report counts whole.
    app.retire(2);
    app.update(2, [counter(3)], Infinity);
    expect(value(app, 'app_requests_total')).toBe(15);
  });

  test('a final report before the exit, then the exit, counts once', () => {
    const app = new AppMetrics();
    app.update(1, [counter(10)], 1);
    app.update(1, [counter(11)], Infinity);
    app.retire(1);
    app.retire(1);
    expect(value(app, 'app_requests_total')).toBe(11);
  });

  test('an older answer that arrives late is ignored', () => {
    const app = new AppMetrics();
    app.update(1, [counter(10)], 2);
    app.update(1, [counter(8)], 1);
    expect(value(app, 'app_requests_total')).toBe(10);
  });

  test('a counter the app resets (or removes) keeps its last value in the total', () => {
    const app = new AppMetrics();
    app.update(1, [counter(10)], 1);
    app.update(1, [counter(2)], 2);
    expect(value(app, 'app_requests_total')).toBe(12);
    app.update(1, [], 3);
    expect(value(app, 'app_requests_total')).toBe(12);
  });

  test('a family whose type changed in a reload follows the newest worker', () => {
    const app = new AppMetrics();
    app.update(1, [counter(10)], 1);
    app.retire(1);
    app.update(2, [{ ...gauge('app_requests_total', 3), help: 'now a gauge' }], 1);
    expect(app.families()).toEqual([expect.objectContaining({ name: 'app_requests_total', type: 'gauge', help: 'now a gauge', values: [{ value: 3, labels: {} }] })]);
  });
});

describe('what workers send', () => {
  test('is checked: bad names, types and labels are dropped; JSON nulls (NaN, Inf) read as NaN; exemplars go', () => {
    const parsed = parseFamilies([
      { name: 'ok_total', help: 'h', type: 'counter', values: [{ value: 1, labels: { a: 'x', 'bad-label': 'y', n: 2, o: {} }, exemplar: { value: 1 } }] },
      { name: 'bad name', help: 'h', type: 'counter', values: [] },
      { name: 'g', help: 'h', type: 'untyped', values: [] },
      { name: 'nan', type: 'gauge', values: [{ value: null }] },
      null,
    ]);
    expect(parsed).toEqual([
      { name: 'ok_total', help: 'h', type: 'counter', aggregator: undefined, values: [{ value: 1, labels: { a: 'x', n: 2 } }] },
      { name: 'nan', help: 'nan', type: 'gauge', aggregator: undefined, values: [{ value: NaN, labels: {} }] },
    ]);
    expect(() => parseFamilies({})).toThrow(/list/);
  });
});

describe('pinged totals (connections, requests)', () => {
  const keys = ['connectionsTotal', 'requestsTotal'] as const;

  test('an exited worker keeps its last pinged counts', () => {
    const ledger = new TotalsLedger(keys);
    const a = {};
    const b = {};
    ledger.observe(a, { connectionsTotal: 10, requestsTotal: 20 });
    ledger.observe(b, { connectionsTotal: 1, requestsTotal: 2 });
    ledger.retire(a);
    expect(ledger.total('connectionsTotal')).toBe(11);
    expect(ledger.total('requestsTotal')).toBe(22);
  });

  test('a final ping processed after the exit adds what grew, once', () => {
    const ledger = new TotalsLedger(keys);
    const a = {};
    ledger.observe(a, { connectionsTotal: 10, requestsTotal: 20 });
    ledger.retire(a);
    ledger.observe(a, { connectionsTotal: 12, requestsTotal: 20 });
    ledger.observe(a, { connectionsTotal: 12, requestsTotal: 20 });
    ledger.retire(a);
    expect(ledger.total('connectionsTotal')).toBe(12);
  });

  test('never goes down, even on a reordered ping', () => {
    const ledger = new TotalsLedger(keys);
    const a = {};
    ledger.observe(a, { connectionsTotal: 10, requestsTotal: 20 });
    ledger.observe(a, { connectionsTotal: 9, requestsTotal: 19 });
    expect(ledger.total('connectionsTotal')).toBe(10);
    expect(ledger.total('requestsTotal')).toBe(20);
  });
});

describe('incremental totals (a push adds what it carries; a render sums nothing)', () => {
  /** The rule written out the slow way: retired values plus each live worker's last values. */
  class Reference {
    retired = new Map<string, number>();
    live = new Map<number, Map<string, number>>();
    push(w: number, values: Map<string, number>): void {
      const before = this.live.get(w) ?? new Map<string, number>();
      for (const [k, v] of before) if (!values.has(k) || values.get(k)! < v) this.retired.set(k, (this.retired.get(k) ?? 0) + v);
      this.live.set(w, values);
    }
    exit(w: number): void {
      this.push(w, new Map());
      this.live.delete(w);
    }
    total(k: string): number {
      let t = this.retired.get(k) ?? 0;
      for (const m of this.live.values()) t += m.get(k) ?? 0;
      return t;
    }
  }

  test('random pushes, resets, removed series and exits: always the slow sum, and never lower than the last scrape', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 48271) % 2147483647) % n);
    const app = new AppMetrics();
    const ref = new Reference();
    const workers = new Map<number, { seq: number; values: Map<string, number> }>();
    const shown = new Map<string, number>();
    let next = 0;
    for (let step = 0; step < 3000; step++) {
      if (workers.size < 4 && rnd(10) === 0) workers.set(next++, { seq: 0, values: new Map() });
      const ids = [...workers.keys()];
      if (ids.length === 0) continue;
      const id = ids[rnd(ids.length)];
      const w = workers.get(id)!;
      if (rnd(40) === 0) {
        app.retire(id);
        ref.exit(id);
        workers.delete(id);
        continue;
      }
      for (const path of ['/a', '/b', '/c']) {
        const r = rnd(20);
        if (r === 0) w.values.delete(path); // the app removed the series
        else if (r === 1) w.values.set(path, rnd(3)); // reset
        else if (r < 12) w.values.set(path, (w.values.get(path) ?? 0) + rnd(5));
      }
      const family: MetricFamily = {
        name: 'app_requests_total', help: 'Requests.', type: 'counter', aggregator: 'sum',
        values: [...w.values].map(([path, v]) => ({ value: v, labels: { path } })),
      };
      app.apply(id, { families: [family], removed: [], full: true }, ++w.seq);
      ref.push(id, new Map(w.values));
      for (const path of ['/a', '/b', '/c']) {
        const got = value(app, 'app_requests_total', 'app_requests_total', { path }) ?? 0;
        expect(got).toBe(ref.total(path));
        expect(got).toBeGreaterThanOrEqual(shown.get(path) ?? 0);
        shown.set(path, got);
      }
    }
  });

  test('a histogram _sum that grows by fractions never goes down over many pushes', () => {
    const app = new AppMetrics();
    let sum = 0;
    let last = 0;
    for (let seq = 1; seq <= 2000; seq++) {
      sum += 0.1 + (seq % 7) * 0.013;
      app.update(1, [histogram([seq, seq, seq], sum)], seq);
      const now = value(app, 'app_seconds', 'app_seconds_sum')!;
      expect(now).toBeGreaterThanOrEqual(last);
      expect(Math.abs(now - sum)).toBeLessThan(1e-9 * sum);
      last = now;
    }
  });
});
