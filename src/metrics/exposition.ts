/**
 * The scrape's wire format: Prometheus text 0.0.4, or OpenMetrics 1.0.0 when the Accept header
 * prefers it (Prometheus itself asks for OpenMetrics first). Both are written by prom-client's
 * Registry from metric families, so sockrun's own metrics and the app's read the same.
 */
import { Registry, RegistryContentType } from 'prom-client';
import type { MetricFamily } from './family';

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

/** Writes `families` in `format`. Names must be unique (the caller drops collisions). */
export async function expose(families: MetricFamily[], format: Format): Promise<{ contentType: string; body: string }> {
  const seen = new Set<string>();
  const chunks: string[] = [];
  for (const family of families) {
    const id = familyId(family, format);
    if (seen.has(id)) continue;
    seen.add(id);
    chunks.push(await exposeFamily(family, format));
  }
  return { contentType: contentTypeOf(format), body: join(chunks, format) };
}

export function contentTypeOf(format: Format): RegistryContentType {
  return format === 'openmetrics' ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE;
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
 * One family's text in `format` (no trailing newline, no `# EOF`), written by prom-client's
 * Registry so that sockrun's metrics and the app's read the same. `join` puts a scrape together
 * from such chunks exactly as Registry.metrics() would, so a renderer can cache them one by one.
 */
export async function exposeFamily(family: MetricFamily, format: Format): Promise<string> {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(contentTypeOf(format));
  // Registry.metrics() renames counters for OpenMetrics (drops `_total` from the family name,
  // adds it to samples) on the object it holds, and reads the family back through get():
  // hand it a fresh object whose get() reflects that renaming.
  registry.registerMetric({
    ...family,
    get(this: { name: string }) {
      return { ...family, name: this.name };
    },
  } as unknown as Parameters<Registry['registerMetric']>[0]);
  const body = await registry.metrics();
  return body.slice(0, body.length - (format === 'openmetrics' ? EOF.length : 1));
}

const EOF = '\n# EOF\n';

/** A whole scrape from family chunks, as prom-client's Registry.metrics() writes one. */
export function join(chunks: string[], format: Format): string {
  return format === 'openmetrics' ? `${chunks.join('\n')}${EOF}` : `${chunks.join('\n\n')}\n`;
}
