/**
 * The scrape's wire format: Prometheus text 0.0.4, or OpenMetrics 1.0.0 when the Accept header
 * prefers it (Prometheus itself asks for OpenMetrics first). Both are written here from metric
 * families, sockrun's own and the app's alike, the way prom-client's Registry writes them (a
 * unit test holds the two equal), but without a Registry per scrape: a family is a string
 * written in one pass, so the admin port can cache it and keep a scrape to a fraction of a
 * millisecond of the master's CPU (issue 16: with 16 busy workers on 2 cores, every
 * millisecond the master needs becomes tens of milliseconds of waiting for a CPU).
 */
import type { MetricFamily, Sample } from './family';

export type Format = 'prometheus' | 'openmetrics';

/**
 * The format for an Accept header: OpenMetrics when `application/openmetrics-text` is accepted
 * with a quality at least that of text/plain (or of a wildcard standing for it); otherwise the
 * Prometheus text format, which is also the answer to no header at all.
 */
export function negotiate(accept: string | undefined): Format {
  if (!accept) return 'prometheus';
  let om = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    let q = 1;
    let version: string | undefined;
    for (const p of params) {
      const [k, v] = p.split('=').map((x) => x.trim());
      if (k === 'q') q = Number.isFinite(Number(v)) ? Number(v) : 0;
      if (k === 'version') version = v;
    }
    if (type === 'application/openmetrics-text' && (version === undefined || version === '1.0.0' || version === '0.0.1')) om = Math.max(om, q);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q);
  }
  return om > 0 && om >= text ? 'openmetrics' : 'prometheus';
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export function contentTypeOf(format: Format): string {
  return format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE;
}

/** Writes `families` in `format`: a whole scrape. Of two families with one id (familyId), the first is written. */
export function expose(families: MetricFamily[], format: Format): { contentType: string; body: string } {
  const seen = new Set<string>();
  const chunks: string[] = [];
  for (const family of families) {
    const id = familyId(family, format);
    if (seen.has(id)) continue;
    seen.add(id);
    chunks.push(writeFamily(family, format));
  }
  return { contentType: contentTypeOf(format), body: join(chunks, format) };
}

/**
 * The name a family goes by in `format`. In OpenMetrics a counter `x_total` is the family `x`: a
 * gauge `x` next to it would be a duplicate family, and Prometheus would fail the whole scrape;
 * of two families with one id, only the first may be written.
 */
export function familyId(family: Pick<MetricFamily, 'name' | 'type'>, format: Format): string {
  return format === 'openmetrics' && family.type === 'counter' ? family.name.replace(/_total$/, '') : family.name;
}

/**
 * One family in `format`, without a trailing newline: `# HELP`, `# TYPE`, one line per sample.
 * In OpenMetrics a counter family drops `_total` from its name and every counter sample carries it.
 */
export function writeFamily(family: MetricFamily, format: Format): string {
  const om = format === 'openmetrics' && family.type === 'counter';
  const name = om ? familyId(family, format) : family.name;
  let out = `# HELP ${name} ${escape(family.help)}\n# TYPE ${name} ${family.type}`;
  for (const s of family.values) {
    const metric = om ? `${s.metricName ?? name}_total` : s.metricName ?? name;
    out += `\n${metric}${labels(s)} ${value(s.value)}`;
  }
  return out;
}

const EOF = '\n# EOF\n';

/** What goes between two families, and after the last, in `format` (as prom-client's Registry writes it). */
export const SEPARATOR: Record<Format, string> = { prometheus: '\n\n', openmetrics: '\n' };
export const TRAILER: Record<Format, string> = { prometheus: '\n', openmetrics: EOF };

/** A whole scrape from writeFamily() chunks. */
export function join(chunks: string[], format: Format): string {
  return `${chunks.join(SEPARATOR[format])}${TRAILER[format]}`;
}

/**
 * Label text by labels object: the app's series keep one labels object for as long as the master
 * runs (metrics/app.ts), so each is escaped and written once, not at every render.
 */
const labelText = new WeakMap<object, string>();

function labels(s: Sample): string {
  let out = labelText.get(s.labels);
  if (out !== undefined) return out;
  out = '';
  for (const k in s.labels) {
    const v = s.labels[k];
    out += `${out ? ',' : ''}${k}="${typeof v === 'string' ? escape(v).replace(/"/g, '\\"') : v}"`;
  }
  out = out ? `{${out}}` : '';
  labelText.set(s.labels, out);
  return out;
}

function escape(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function value(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return `${v}`;
}
