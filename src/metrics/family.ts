/**
 * A metric family as prom-client's `getMetricsAsJSON()` describes it: the form in which workers
 * send the app's metrics, in which sockrun's own registry is read, and from which a scrape is
 * rendered (exposition.ts).
 */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface Sample {
  value: number;
  labels: Record<string, string | number>;
  /** `x_bucket`, `x_sum`, `x_count` in histograms and summaries; absent = the family's name. */
  metricName?: string;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  values: Sample[];
  /** prom-client's rule for combining workers: sum (default), first, min, max, average, omit. */
  aggregator?: string;
}

const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary']);
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * What a worker sent, checked and copied: families with a valid name and type; samples with
 * finite-or-not numbers (JSON turns NaN and ±Inf into null: read back as NaN) and string or
 * number labels. Exemplars and timestamps are dropped. Throws on anything that is not a list.
 */
export function parseFamilies(raw: unknown): MetricFamily[] {
  if (!Array.isArray(raw)) throw new Error('expected a list of metric families');
  const families: MetricFamily[] = [];
  for (const f of raw as Record<string, unknown>[]) {
    if (typeof f !== 'object' || f === null) continue;
    if (typeof f.name !== 'string' || !NAME.test(f.name) || typeof f.type !== 'string' || !TYPES.has(f.type)) continue;
    const values: Sample[] = [];
    for (const v of Array.isArray(f.values) ? (f.values as Record<string, unknown>[]) : []) {
      if (typeof v !== 'object' || v === null) continue;
      const labels: Record<string, string | number> = {};
      for (const [k, l] of Object.entries((v.labels as Record<string, unknown>) ?? {})) {
        if (LABEL.test(k) && (typeof l === 'string' || typeof l === 'number')) labels[k] = l;
      }
      const sample: Sample = { value: typeof v.value === 'number' ? v.value : NaN, labels };
      if (typeof v.metricName === 'string' && NAME.test(v.metricName)) sample.metricName = v.metricName;
      values.push(sample);
    }
    families.push({
      name: f.name,
      help: typeof f.help === 'string' ? f.help : f.name,
      type: f.type as MetricType,
      values,
      aggregator: typeof f.aggregator === 'string' ? f.aggregator : undefined,
    });
  }
  return families;
}

/**
 * The key of one series within a family: its sample name and its labels, in sorted order, each
 * value prefixed with its length (unambiguous whatever a value holds). Computed once for every
 * series a worker pushes, so it is kept cheap: no sort when the labels are in order already.
 */
export function seriesKey(family: string, s: Sample): string {
  let key = s.metricName ?? family;
  const names = Object.keys(s.labels);
  for (let i = 1; i < names.length; i++) {
    if (names[i - 1] > names[i]) {
      names.sort();
      break;
    }
  }
  for (const k of names) {
    const v = String(s.labels[k]);
    key += `\n${k}=${v.length}:${v}`;
  }
  return key;
}

/**
 * True for the samples that only go up while a process lives: every counter sample, every
 * histogram sample (buckets, _sum, _count), a summary's _sum and _count. The rest (gauges,
 * summary quantiles) describe the present.
 */
export function isCumulative(type: MetricType, family: string, s: Sample): boolean {
  if (type === 'counter' || type === 'histogram') return true;
  if (type === 'summary') return s.metricName !== undefined && s.metricName !== family;
  return false;
}
