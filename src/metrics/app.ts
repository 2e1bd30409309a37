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
 * Pure: no timers, no I/O; metrics/pushes.ts feeds it the workers' pushes and exits. Each family
 * carries a version, so a renderer re-aggregates only the families that changed (scrape.ts).
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

/** One family as one worker last pushed it, with its cumulative series by series key. */
interface SourceFamily {
  family: MetricFamily;
  cumulative: Map<string, Cumulative>;
}

interface Source {
  families: Map<string, SourceFamily>;
  /** Ordinal of the push: an older one that arrives late is ignored. */
  seq: number;
  retiredAt: number | undefined;
}

interface RetiredFamily {
  type: MetricType;
  help: string;
  series: Map<string, Sample>;
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
  private readonly sources = new Map<number, Source>();
  private readonly retired = new Map<string, RetiredFamily>();
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
   * A cumulative series that went down or disappeared while the worker lives (the app reset or
   * removed it) keeps its last value in the retired total; a push after the worker's exit (its
   * final one) adds only what grew since.
   */
  apply(source: number, delta: Delta, seq: number): void {
    const old = this.sources.get(source);
    if (old && seq <= old.seq) return;
    const s: Source = old ?? { families: new Map(), seq, retiredAt: undefined };
    s.seq = seq;
    this.sources.set(source, s);
    const incoming = new Map(delta.families.map((f) => [f.name, f]));
    if (s.retiredAt !== undefined) {
      // The retired total already holds this worker's values: add what grew, keep the larger.
      for (const f of incoming.values()) {
        const before = s.families.get(f.name)?.cumulative;
        const now = cumulativeOf(f);
        for (const [key, c] of now) {
          const was = before?.get(key)?.sample.value ?? 0;
          if (c.sample.value > was) this.addRetired(c, c.sample.value - was);
        }
        for (const [key, c] of before ?? []) {
          const kept = now.get(key);
          if (!kept || kept.sample.value < c.sample.value) now.set(key, c);
        }
        s.families.set(f.name, { family: f, cumulative: now });
      }
      return;
    }
    for (const f of incoming.values()) {
      const before = s.families.get(f.name)?.cumulative;
      const now = cumulativeOf(f);
      for (const [key, c] of before ?? []) {
        const kept = now.get(key);
        if (!kept || kept.sample.value < c.sample.value) this.addRetired(c, c.sample.value);
      }
      s.families.set(f.name, { family: f, cumulative: now });
      this.touch(f.name);
    }
    const gone = delta.full ? [...s.families.keys()].filter((n) => !incoming.has(n)) : delta.removed.filter((n) => !incoming.has(n));
    for (const name of gone) {
      const sf = s.families.get(name);
      if (!sf) continue;
      for (const c of sf.cumulative.values()) this.addRetired(c, c.sample.value);
      s.families.delete(name);
      this.touch(name);
    }
  }

  /** The worker exited: its cumulative series join the retired total; its gauges go. */
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
    for (const sf of s.families.values()) {
      for (const c of sf.cumulative.values()) this.addRetired(c, c.sample.value);
      this.touch(sf.family.name);
    }
    s.retiredAt = now;
  }

  /** Changes whenever family `name`'s aggregate may have changed (0: never seen). */
  version(name: string): number {
    return this.versions.get(name) ?? 0;
  }

  /** The names of every family to show, in output order: as the live workers list them, then retired ones. */
  familyNames(): string[] {
    const names = new Set<string>();
    for (const s of this.sources.values()) {
      if (s.retiredAt === undefined) for (const name of s.families.keys()) names.add(name);
    }
    for (const name of this.retired.keys()) names.add(name);
    return [...names];
  }

  /**
   * The aggregated families: cumulative series summed over the live workers' last pushes plus
   * the retired total; gauges and summary quantiles combined over live workers only.
   */
  families(): MetricFamily[] {
    const out: MetricFamily[] = [];
    for (const name of this.familyNames()) {
      const f = this.aggregate(name);
      if (f) out.push(f);
    }
    return out;
  }

  /** One family of families(), or undefined when it has nothing to show (or is `omit`ted). */
  aggregate(name: string): MetricFamily | undefined {
    const fams: MetricFamily[] = [];
    for (const s of this.sources.values()) {
      const sf = s.retiredAt === undefined ? s.families.get(name) : undefined;
      if (sf) fams.push(sf.family);
    }
    // The newest worker's declaration wins (a reload may have changed help or type).
    const newest = fams[fams.length - 1];
    const retired = this.retired.get(name);
    if (!newest && !retired) return undefined;
    const type = newest?.type ?? retired!.type;
    const aggregator = newest?.aggregator ?? 'sum';
    if (aggregator === 'omit') return undefined;
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
    if (values.length === 0) return undefined;
    return { name, help: newest?.help ?? retired!.help, type, aggregator, values: ordered(type, name, values) };
  }

  private touch(name: string): void {
    this.versions.set(name, ++this.clock);
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
    this.touch(c.family);
  }
}

/** The cumulative series of one family, by series key. */
function cumulativeOf(f: MetricFamily): Map<string, Cumulative> {
  const out = new Map<string, Cumulative>();
  if (f.aggregator === 'omit') return out;
  for (const s of f.values) {
    if (!isCumulative(f.type, f.name, s) || !Number.isFinite(s.value)) continue;
    out.set(seriesKey(f.name, s), { family: f.name, type: f.type, help: f.help, sample: s });
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
