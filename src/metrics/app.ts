/**
 * The app's own prom-client metrics, aggregated across workers so that counters never go
 * backwards (docs/metrics.md, "Aggregation rules").
 *
 * prom-client's AggregatorRegistry sums what the live workers answer: when a worker exits, its
 * share of every counter vanishes and Prometheus sees a counter reset (rate() spikes, increase()
 * lies). Here every cumulative series (counters, histogram buckets/_sum/_count, summary
 * _sum/_count) is one running total: a push adds what each of its series grew by since that
 * worker's previous push, and what a worker counted stays in the total when it exits, or when a
 * live worker's series goes down or away (the app reset or removed it). Gauges describe the
 * present: per series, each live worker's last value, combined by the metric's own prom-client
 * `aggregator` when a family is written.
 *
 * Aggregation is incremental (issue 16): a push costs what it carries, a render only writes the
 * families that changed since the last one (`version`), without summing over the workers again
 * — with 16 busy workers on 2 cores every millisecond the master spends on a scrape becomes
 * tens of milliseconds of waiting for a CPU.
 *
 * Pure: no timers, no I/O; metrics/pushes.ts feeds it the workers' pushes and exits.
 */
import { MetricFamily, MetricType, Sample, isCumulative, seriesKey } from './family';

/** A retired worker's entry is kept this long for a final report that arrives after its exit. */
const LATE_REPORT_GRACE_MS = 60_000;

/** What a family's newest declaration says about it. */
interface Declaration {
  type: MetricType;
  help: string;
  aggregator: string | undefined;
}

/** One family of one type, over every worker that pushed it with that type. */
interface Aggregate {
  /** Cumulative series: the running total, and the sample it is written as (labels, metricName). */
  totals: Map<string, { sample: Sample; total: number }>;
  /** Other series: each live worker's last value, by the worker's serial. */
  gauges: Map<string, { sample: Sample; values: Map<number, number> }>;
}

interface FamilyState {
  byType: Map<MetricType, Aggregate>;
  /** The declaration of the last push that carried it (for a family no live worker has). */
  last: Declaration;
}

/** One family as one worker last pushed it. */
interface Pushed {
  declaration: Declaration;
  /** Its cumulative series' last values, by series key. */
  values: Map<string, number>;
  /** Its other series' keys. */
  gauges: Set<string>;
}

interface Source {
  families: Map<string, Pushed>;
  /** Ordinal of the push: an older one that arrives late is ignored. */
  seq: number;
  retiredAt: number | undefined;
}

/** A worker's push as AppMetrics takes it (protocol.ts MetricsPush, checked by parseFamilies). */
export interface Delta {
  /** Families whose values changed (every family, when `full`). */
  families: MetricFamily[];
  /** Names that went away (ignored when `full`: what is not in `families` went away). */
  removed: string[];
  full: boolean;
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
  /** By the worker's serial, in the order workers were first seen (the newest last). */
  private readonly sources = new Map<number, Source>();
  private readonly state = new Map<string, FamilyState>();
  /** Per family name: the `clock` of its last change, so a renderer can cache the rest. */
  private readonly versions = new Map<string, number>();
  private clock = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Records a worker's full report: `update(w, families, seq)` = `apply(w, {families, removed: [], full: true}, seq)`. */
  update(source: number, families: MetricFamily[], seq: number): void {
    this.apply(source, { families, removed: [], full: true }, seq);
  }

  /**
   * Records a worker's push. `seq` orders the pushes of one worker (an older one is ignored).
   * A cumulative series that went down or disappeared while the worker lives keeps its last
   * value in the total; a push after the worker's exit (its final one) adds only what grew.
   */
  apply(source: number, delta: Delta, seq: number): void {
    const old = this.sources.get(source);
    if (old && seq <= old.seq) return;
    const s: Source = old ?? { families: new Map(), seq, retiredAt: undefined };
    s.seq = seq;
    this.sources.set(source, s);
    const live = s.retiredAt === undefined;
    const incoming = new Set<string>();
    for (const f of delta.families) {
      if (incoming.has(f.name)) continue;
      incoming.add(f.name);
      this.record(source, s, f, live);
    }
    if (!live) return;
    const gone = delta.full ? [...s.families.keys()].filter((n) => !incoming.has(n)) : delta.removed.filter((n) => !incoming.has(n));
    for (const name of gone) {
      const pushed = s.families.get(name);
      if (!pushed) continue;
      // Its cumulative series stay in the totals; its gauges go.
      this.dropGauges(source, name, pushed, pushed.gauges);
      s.families.delete(name);
      this.touch(name);
    }
  }

  /** The worker exited: what it counted stays in the totals; its gauges go. */
  retire(source: number): void {
    const now = this.now();
    for (const [key, s] of this.sources) {
      if (s.retiredAt !== undefined && now - s.retiredAt > LATE_REPORT_GRACE_MS) this.sources.delete(key);
    }
    const s = this.sources.get(source);
    if (!s) {
      // Never pushed: a final push may still come.
      this.sources.set(source, { families: new Map(), seq: -1, retiredAt: now });
      return;
    }
    if (s.retiredAt !== undefined) return;
    for (const [name, pushed] of s.families) {
      this.dropGauges(source, name, pushed, pushed.gauges);
      pushed.gauges = new Set();
      this.touch(name);
    }
    s.retiredAt = now;
  }

  /** Changes whenever family `name`'s aggregate may have changed (0: never seen). */
  version(name: string): number {
    return this.versions.get(name) ?? 0;
  }

  /** The names of every family ever pushed, in the order they were first seen. */
  familyNames(): string[] {
    return [...this.state.keys()];
  }

  /** Every family with something to show: families() = familyNames() through aggregate(). */
  families(): MetricFamily[] {
    const out: MetricFamily[] = [];
    for (const name of this.state.keys()) {
      const f = this.aggregate(name);
      if (f) out.push(f);
    }
    return out;
  }

  /**
   * One family as a scrape shows it, or undefined when it has nothing to show (or is `omit`ted):
   * of the type the newest live worker declares (a reload may change it), its totals, and its
   * gauges and summary quantiles combined over the live workers.
   */
  aggregate(name: string): MetricFamily | undefined {
    const state = this.state.get(name);
    if (!state) return undefined;
    let newest: Declaration | undefined;
    for (const s of this.sources.values()) {
      if (s.retiredAt === undefined) newest = s.families.get(name)?.declaration ?? newest;
    }
    const { type, help, aggregator } = newest ?? { ...state.last, aggregator: state.last.aggregator === 'omit' ? 'omit' : 'sum' };
    if (aggregator === 'omit') return undefined;
    const agg = state.byType.get(type);
    if (!agg) return undefined;
    const rule = type === 'summary' ? GAUGE_RULES.max : GAUGE_RULES[aggregator ?? 'sum'] ?? GAUGE_RULES.sum;
    const values: Sample[] = [];
    for (const { sample, total } of agg.totals.values()) values.push({ ...sample, value: total });
    for (const { sample, values: v } of agg.gauges.values()) if (v.size > 0) values.push({ ...sample, value: rule([...v.values()]) });
    if (values.length === 0) return undefined;
    return { name, help, type, aggregator: aggregator ?? 'sum', values: ordered(type, name, values) };
  }

  /** Adds one pushed family to the totals and gauges (`live`: from a worker that has not exited). */
  private record(source: number, s: Source, f: MetricFamily, live: boolean): void {
    const declaration: Declaration = { type: f.type, help: f.help, aggregator: f.aggregator };
    const state = this.state.get(f.name) ?? { byType: new Map(), last: declaration };
    this.state.set(f.name, state);
    if (live) state.last = declaration;
    let agg = state.byType.get(f.type);
    if (!agg) state.byType.set(f.type, (agg = { totals: new Map(), gauges: new Map() }));
    const before = s.families.get(f.name);
    // A family whose type changed starts over for this worker: the old type's totals stay theirs.
    const was = before && before.declaration.type === f.type ? before : undefined;
    if (before && !was) this.dropGauges(source, f.name, before, before.gauges);
    const values = new Map<string, number>();
    const gauges = new Set<string>();
    if (f.aggregator !== 'omit') {
      for (const sample of f.values) {
        const key = seriesKey(f.name, sample);
        if (isCumulative(f.type, f.name, sample)) {
          if (!Number.isFinite(sample.value)) continue;
          const prev = was?.values.get(key);
          // Grown: add the growth. Went down (reset): the old value stays, the new one is added.
          // After the exit (a final push): only growth counts, and the larger value is kept.
          let add = prev === undefined || sample.value < prev ? sample.value : sample.value - prev;
          if (!live) add = Math.max(0, sample.value - (prev ?? 0));
          const t = agg.totals.get(key);
          if (t) t.total += add;
          else agg.totals.set(key, { sample: template(sample), total: add });
          values.set(key, live ? sample.value : Math.max(sample.value, prev ?? 0));
        } else if (live) {
          let g = agg.gauges.get(key);
          if (!g) agg.gauges.set(key, (g = { sample: template(sample), values: new Map() }));
          g.values.set(source, sample.value);
          gauges.add(key);
        }
      }
    }
    if (was) {
      // Cumulative series the push no longer carries keep their last value (already in the total).
      if (!live) for (const [key, v] of was.values) if (!values.has(key)) values.set(key, v);
      const dropped = [...was.gauges].filter((key) => !gauges.has(key));
      if (dropped.length) this.dropGauges(source, f.name, was, dropped);
    }
    s.families.set(f.name, { declaration, values, gauges });
    this.touch(f.name);
  }

  /** Removes one worker's values from the gauges `keys` of its family `name`. */
  private dropGauges(source: number, name: string, pushed: Pushed, keys: Iterable<string>): void {
    const gauges = this.state.get(name)?.byType.get(pushed.declaration.type)?.gauges;
    if (!gauges) return;
    for (const key of keys) gauges.get(key)?.values.delete(source);
  }

  private touch(name: string): void {
    this.versions.set(name, ++this.clock);
  }
}

/** A sample as written: its labels and metric name, copied (the pushed object is not kept). */
function template(s: Sample): Sample {
  return s.metricName === undefined ? { value: 0, labels: { ...s.labels } } : { value: 0, labels: { ...s.labels }, metricName: s.metricName };
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
