/**
 * One GET /metrics: sockrun's own registry, read now, and the app's metrics as the workers last
 * pushed them (pushes.ts), aggregated, written in the negotiated format. Nobody is asked and
 * nothing waits: the cost of a scrape does not depend on the number of workers or their load
 * (issue 16). Loaded by index.ts at the first scrape, so a master that is never scraped never
 * loads prom-client (~12 MB RSS, tens of ms to require).
 *
 * Bounded under a flood of scrapes (issue 15.6):
 *  - each app family is aggregated and written once per change (AppMetrics.version), not once
 *    per scrape, and kept as Buffers of about BLOCK_BYTES that are rebuilt only when one of their
 *    families changed: a 20,000-series app costs a scrape what changed since the last one;
 *  - scrapes within RENDER_REUSE_MS of a render share it, and every client is sent the same
 *    Buffers (never a copy per client).
 */
import type { Logger } from 'pino';
import { AppMetrics } from './app';
import { Format, SEPARATOR, TRAILER, contentTypeOf, expose, familyId, negotiate, writeFamily } from './exposition';
import type { MetricFamily, MetricType } from './family';
import type { MetricsRenderer, Rendered } from './index';
import { ObservedMaster, PREFIX, Readiness, SockrunMetrics } from './own';
import type { PushedMetrics } from './pushes';
import type { EventTally } from './tally';

/**
 * Scrapes that arrive within this long of a render's start share it: twenty scrapers in a loop
 * cost the master at most ten renders a second, and a scrape shows values at most this much
 * older than the workers' last pushes.
 */
export const RENDER_REUSE_MS = 100;
/** At most one warning per this interval about workers missing from scrapes. */
const WARN_EVERY_MS = 60_000;
/** App families are sent in Buffers of about this size, each rebuilt only when one of its families changed. */
const BLOCK_BYTES = 64 * 1024;

interface Chunk {
  version: number;
  type: MetricType;
  text: string;
}

/** Consecutive app families as one Buffer (each preceded by the format's separator). */
interface Block {
  names: string[];
  versions: number[];
  buffer: Buffer;
}

export class Scrape implements MetricsRenderer {
  private readonly own: SockrunMetrics;
  private readonly app: AppMetrics;
  private readonly reported = new Set<string>();
  /** Per format, the app families' text as of their version. */
  private readonly chunks: Record<Format, Map<string, Chunk>> = { prometheus: new Map(), openmetrics: new Map() };
  private readonly blocks: Record<Format, Block[]> = { prometheus: [], openmetrics: [] };
  private readonly latest: Partial<Record<Format, { at: number; done: boolean; result: Promise<Rendered> }>> = {};
  private lastWarnAt = 0;

  constructor(
    master: ObservedMaster,
    tally: EventTally,
    private readonly pushes: Pick<PushedMetrics, 'app' | 'freshness'>,
    readiness: () => Readiness,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.own = new SockrunMetrics(master, tally, readiness);
    this.app = pushes.app;
  }

  render(accept: string | undefined): Promise<Rendered> {
    const format = negotiate(accept);
    const now = this.now();
    const latest = this.latest[format];
    if (latest && (!latest.done || now - latest.at < RENDER_REUSE_MS)) return latest.result;
    const entry = { at: now, done: false, result: this.renderNow(format) };
    entry.result.then(() => (entry.done = true), () => (entry.done = true));
    this.latest[format] = entry;
    return entry.result;
  }

  close(): void {
    this.own.close();
  }

  private async renderNow(format: Format): Promise<Rendered> {
    const fresh = this.pushes.freshness();
    this.own.scrapeFailed(fresh.missing);
    if (fresh.missing > 0 && this.now() - this.lastWarnAt > WARN_EVERY_MS) {
      this.lastWarnAt = this.now();
      this.log.warn({ workers: fresh.serving, missing: fresh.missing, reasons: fresh.reasons }, 'metrics scrape partial: workers missing keep their previous values');
    }
    const own = await this.own.families();
    const ids = new Set(own.map((f) => familyId(f, format)));
    const ownText = expose(own, format).body;
    const body: Buffer[] = [Buffer.from(ownText.slice(0, ownText.length - TRAILER[format].length))];
    try {
      const chunks: (Chunk & { name: string })[] = [];
      for (const chunk of this.appChunks(format, new Set(own.map((f) => f.name)))) {
        const id = familyId({ name: chunk.name, type: chunk.type }, format);
        if (ids.has(id)) continue;
        ids.add(id);
        chunks.push(chunk);
      }
      body.push(...this.appBlocks(format, chunks));
    } catch (err) {
      // Never a failed scrape: sockrun's own metrics still go out.
      this.own.scrapeFailed(1);
      this.log.error({ err }, 'could not aggregate the app metrics; this scrape has sockrun metrics only');
      body.splice(1);
    }
    body.push(Buffer.from(TRAILER[format]));
    return { contentType: contentTypeOf(format), body };
  }

  /**
   * The app's chunks as Buffers of about BLOCK_BYTES: a block whose families and their versions
   * are those of last time is reused as it is.
   */
  private appBlocks(format: Format, chunks: (Chunk & { name: string })[]): Buffer[] {
    const before = this.blocks[format];
    const after: Block[] = [];
    for (let i = 0; i < chunks.length;) {
      const start = i;
      let bytes = 0;
      // A family that would overflow the block starts the next one: a big family that never
      // changes is then never rebuilt because a small one next to it changed.
      while (i < chunks.length && (i === start || bytes + chunks[i].text.length <= BLOCK_BYTES)) bytes += chunks[i++].text.length;
      const members = chunks.slice(start, i);
      const old = before[after.length];
      const same = old !== undefined && old.names.length === members.length
        && members.every((c, k) => old.names[k] === c.name && old.versions[k] === c.version);
      after.push(same ? old : {
        names: members.map((c) => c.name),
        versions: members.map((c) => c.version),
        buffer: Buffer.from(members.map((c) => SEPARATOR[format] + c.text).join('')),
      });
    }
    this.blocks[format] = after;
    return after.map((b) => b.buffer);
  }

  /** The app's families in output order, each written once per change. */
  private appChunks(format: Format, taken: Set<string>): (Chunk & { name: string })[] {
    const cache = this.chunks[format];
    const out: (Chunk & { name: string })[] = [];
    const names = this.app.familyNames();
    for (const name of names) {
      if (!this.allowed(name, taken)) continue;
      const version = this.app.version(name);
      let chunk = cache.get(name);
      if (!chunk || chunk.version !== version) {
        const family: MetricFamily | undefined = this.app.aggregate(name);
        chunk = family ? { version, type: family.type, text: writeFamily(family, format) } : { version, type: 'gauge', text: '' };
        cache.set(name, chunk);
      }
      if (chunk.text !== '') out.push({ ...chunk, name });
    }
    if (cache.size > names.length) {
      const live = new Set(names);
      for (const name of cache.keys()) if (!live.has(name)) cache.delete(name);
    }
    return out;
  }

  /** App families may not use sockrun's names (one warning per name). */
  private allowed(name: string, taken: Set<string>): boolean {
    if (!name.startsWith(PREFIX) && !taken.has(name)) return true;
    if (!this.reported.has(name)) {
      this.reported.add(name);
      this.log.warn({ metric: name }, `app metric dropped: names starting with ${PREFIX} are sockrun's`);
    }
    return false;
  }
}

