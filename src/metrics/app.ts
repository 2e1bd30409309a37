/**
 * The app's own prom-client metrics, aggregated across workers so that counters never go
 * backwards (docs/metrics.md, "Aggregation rules").
 *
 * prom-client's AggregatorRegistry sums what the live workers answer: when a worker exits, its
 * share of every counter vanishes and Prometheus sees a counter reset (rate() spikes, increase()
 * lies). Here every worker's last answer is kept, and on its exit its cumulative series
 * (counters, histogram buckets/_sum/_count, summary _sum/_count) move into a `retired` total
 * that is added to every later scrape. Gauges describe the present: they combine the live
 * workers only, by the metric's own prom-client `aggregator`.
 *
 * Pure: no timers, no I/O; the collector (collect.ts) feeds it answers and exits.
 */
import { MetricFamily, MetricType, Sample, isCumulative, seriesKey } from './family';

/** A retired worker's entry is kept this long for a final report that arrives after its exit. */
const LATE_REPORT_GRACE_MS = 60_000;

interface Cumulative {
  family: string;
  type: MetricType;
  help: string;
  sample: Sample;
}

interface Source {
  families: MetricFamily[];
  /** Cumulative series by family and series key. */
  cumulative: Map<string, Cumulative>;
  /** Ordinal of the answer: an older answer that arrives late is ignored. */
  seq: number;
  retiredAt: number | undefined;
}

interface RetiredFamily {
  type: MetricType;
  help: string;
  series: Map<string, Sample>;
}

/** How gauges of several workers combine: prom-client's aggregator names. */
const GAUGE_RULES: Record<string, (values: number[]) => number> = {
  sum: (v) => v.reduce((a, b) => a + b, 0),
  first: (v) => v[0],
  min: (v) => Math.min(...v),
  max: (v) => Math.max(...v),
  average: (v) => v.reduce((a, b) => a + b, 0) / v.length,
};

export class AppMetrics {
  private readonly sources = new Map<number, Source>();
  private readonly retired = new Map<string, RetiredFamily>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Records a worker's answer. `seq` orders answers of one worker (a final report is
   * `Infinity`). A cumulative series that went down or disappeared while the worker lives
   * (the app reset or removed it) keeps its last value in the retired total; an answer after
   * the worker's exit (its final report) adds only what grew since.
   */
  update(source: number, families: MetricFamily[], seq: number): void {
    const old = this.sources.get(source);
    if (old && seq <= old.seq) return;
    const cumulative = cumulativeOf(families);
    if (old?.retiredAt !== undefined) {
      for (const [key, c] of cumulative) {
        const before = old.cumulative.get(key)?.sample.value ?? 0;
        if (c.sample.value > before) this.addRetired(c, c.sample.value - before);
      }
      // Keep the larger of the two, series by series: the retired total already holds `old`.
      for (const [key, c] of old.cumulative) {
        const now = cumulative.get(key);
        if (!now || now.sample.value < c.sample.value) cumulative.set(key, c);
      }
    } else if (old) {
      for (const [key, c] of old.cumulative) {
        const now = cumulative.get(key);
        if (!now || now.sample.value < c.sample.value) this.addRetired(c, c.sample.value);
      }
    }
    this.sources.set(source, { families, cumulative, seq, retiredAt: old?.retiredAt });
  }

  /** The worker exited: its cumulative series join the retired total; its gauges go. */
  retire(source: number): void {
    const now = this.now();
    for (const [key, s] of this.sources) {
      if (s.retiredAt !== undefined && now - s.retiredAt > LATE_REPORT_GRACE_MS) this.sources.delete(key);
    }
    const s = this.sources.get(source);
    if (!s) {
      // Never answered: a final report may still come.
      this.sources.set(source, { families: [], cumulative: new Map(), seq: -1, retiredAt: now });
      return;
    }
    if (s.retiredAt !== undefined) return;
    for (const c of s.cumulative.values()) this.addRetired(c, c.sample.value);
    s.retiredAt = now;
  }

  /** Names of every family this holds (for collision checks). */
  names(): Set<string> {
    const names = new Set(this.retired.keys());
    for (const s of this.sources.values()) for (const f of s.families) names.add(f.name);
    return names;
  }

  /**
   * The aggregated families: cumulative series summed over the live workers' last answers plus
   * the retired total; gauges and summary quantiles combined over live workers only.
   */
  families(): MetricFamily[] {
    const live = [...this.sources.values()].filter((s) => s.retiredAt === undefined);
    const byName = new Map<string, MetricFamily[]>();
    for (const s of live) {
      for (const f of s.families) {
        const list = byName.get(f.name);
        if (list) list.push(f);
        else byName.set(f.name, [f]);
      }
    }
    for (const name of this.retired.keys()) if (!byName.has(name)) byName.set(name, []);

    const out: MetricFamily[] = [];
    for (const [name, fams] of byName) {
      // The newest worker's declaration wins (a reload may have changed help or type).
      const newest = fams[fams.length - 1];
      const retired = this.retired.get(name);
      const type = newest?.type ?? retired!.type;
      const aggregator = newest?.aggregator ?? 'sum';
      if (aggregator === 'omit') continue;
      const same = fams.filter((f) => f.type === type);

      const summed = new Map<string, Sample>();
      const add = (s: Sample, value: number) => {
        const key = seriesKey(name, s);
        const have = summed.get(key);
        if (have) have.value += value;
        else summed.set(key, { ...s, labels: { ...s.labels }, value });
      };
      const present = new Map<string, { sample: Sample; values: number[] }>();
      for (const f of same) {
        for (const s of f.values) {
          if (isCumulative(type, name, s)) {
            if (Number.isFinite(s.value)) add(s, s.value);
          } else {
            const key = seriesKey(name, s);
            const have = present.get(key);
            if (have) have.values.push(s.value);
            else present.set(key, { sample: s, values: [s.value] });
          }
        }
      }
      if (retired && retired.type === type) for (const s of retired.series.values()) add(s, s.value);

      const rule = type === 'summary' ? GAUGE_RULES.max : GAUGE_RULES[aggregator] ?? GAUGE_RULES.sum;
      const values = [...summed.values()];
      for (const { sample, values: v } of present.values()) values.push({ ...sample, value: rule(v) });
      if (values.length === 0) continue;
      out.push({ name, help: newest?.help ?? retired!.help, type, aggregator, values: ordered(type, name, values) });
    }
    return out;
  }

  private addRetired(c: Cumulative, value: number): void {
    let f = this.retired.get(c.family);
    if (!f || f.type !== c.type) {
      // A family whose type changed (in a reload) starts over: the old type's values can't be added.
      f = { type: c.type, help: c.help, series: new Map() };
      this.retired.set(c.family, f);
    }
    const key = seriesKey(c.family, c.sample);
    const have = f.series.get(key);
    if (have) have.value += value;
    else f.series.set(key, { ...c.sample, labels: { ...c.sample.labels }, value });
  }
}

function cumulativeOf(families: MetricFamily[]): Map<string, Cumulative> {
  const out = new Map<string, Cumulative>();
  for (const f of families) {
    if (f.aggregator === 'omit') continue;
    for (const s of f.values) {
      if (!isCumulative(f.type, f.name, s) || !Number.isFinite(s.value)) continue;
      out.set(`${f.name}\0${seriesKey(f.name, s)}`, { family: f.name, type: f.type, help: f.help, sample: s });
    }
  }
  return out;
}

/**
 * Histograms and summaries as prom-client writes them: per label set, buckets by `le` (or
 * quantiles) in increasing order, then _sum, then _count. Other families keep their order.
 */
function ordered(type: MetricType, name: string, values: Sample[]): Sample[] {
  if (type !== 'histogram' && type !== 'summary') return values;
  const inner = type === 'histogram' ? 'le' : 'quantile';
  const groups = new Map<string, number>();
  const groupOf = (s: Sample) => {
    const { [inner]: _, ...rest } = s.labels;
    const key = seriesKey('', { value: 0, labels: rest });
    if (!groups.has(key)) groups.set(key, groups.size);
    return groups.get(key)!;
  };
  const rank = (s: Sample) => (s.metricName === `${name}_sum` ? 1 : s.metricName === `${name}_count` ? 2 : 0);
  const bound = (s: Sample) => {
    const v = s.labels[inner];
    return v === '+Inf' ? Infinity : Number(v);
  };
  return values
    .map((s) => ({ s, g: groupOf(s), r: rank(s), b: bound(s) }))
    .sort((a, b) => a.g - b.g || a.r - b.r || (a.r === 0 ? a.b - b.b : 0))
    .map((x) => x.s);
}
