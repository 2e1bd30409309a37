/**
 * The master's side of the workers' metric pushes (worker/metrics.ts, protocol.ts MetricsPush):
 * each push goes into AppMetrics as it arrives, so a scrape reads what is already here and never
 * asks a worker or waits for one (issue 16). A worker is asked for a full push when it starts
 * listening, and again whenever the master has nothing to apply a delta to; its values are
 * retired when it exits (counters stay monotonic, app.ts).
 *
 * How fresh: a worker pushes every `intervalMs`, so what a scrape shows of it is at most one
 * interval old. A worker that falls `STALE_INTERVALS` behind (event loop blocked, stopped) or
 * whose last collection failed is `missing`: its last values stand in for it, and the scrape
 * counts it in sockrun_scrape_worker_errors_total. Partial, never failed.
 */
import type { MasterMessage, MetricsPush } from '../protocol';
import { AppMetrics } from './app';
import { parseFamilies } from './family';

/** A worker whose last push is this many intervals old is behind. */
export const STALE_INTERVALS = 3;
/** …but never less than this: a worker on a busy machine may push a few hundred ms late. */
const STALE_MIN_MS = 1000;

/** The worker as the push receiver sees it (master/worker-handle.ts). */
export interface PushingWorker {
  readonly stage: string;
  readonly child: { readonly connected: boolean };
  send(message: MasterMessage): void;
}

/** The master as the push receiver sees it. */
export interface PushSource {
  liveWorkers(): PushingWorker[];
  on(event: 'message', listener: (w: PushingWorker, m: unknown) => void): unknown;
  on(event: 'exit' | 'listening', listener: (w: PushingWorker) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

/** Which serving workers a scrape now would show with old values, and why. */
export interface Freshness {
  /** Listening or draining workers. */
  serving: number;
  /** Of those, workers behind or failing: their last values stand in. */
  missing: number;
  /** Why, for the log: "no push for 3100 ms", "collect failed: …". */
  reasons: string[];
}

interface Track {
  serial: number;
  /** `seq` of the last push seen. */
  seq: number;
  /** A full push has been applied, so deltas can be. */
  base: boolean;
  /** When it last pushed, or started listening. */
  heardAt: number;
  askedAt: number;
  error: string | undefined;
}

export class PushedMetrics {
  private readonly tracks = new WeakMap<PushingWorker, Track>();
  private nextSerial = 0;
  private readonly onMessage = (w: PushingWorker, m: unknown) => this.receive(w, m);
  private readonly onExit = (w: PushingWorker) => this.app.retire(this.track(w).serial);
  private readonly onListening = (w: PushingWorker) => {
    const t = this.track(w);
    t.heardAt = this.now();
    // Its first push is full; ask only if that has not come yet (a big registry is costly to send twice).
    if (!t.base) this.ask(w);
  };

  constructor(
    private readonly source: PushSource,
    readonly app: AppMetrics,
    /** How often workers push (SOCKRUN_METRICS_INTERVAL_MS). */
    readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    source.on('message', this.onMessage);
    source.on('exit', this.onExit);
    source.on('listening', this.onListening);
    // Workers that listened before we were attached (a programmatic master) are asked now.
    for (const w of source.liveWorkers()) if (serving(w)) this.onListening(w);
  }

  /** How fresh a scrape taken now would be. */
  freshness(): Freshness {
    const now = this.now();
    const staleMs = Math.max(STALE_INTERVALS * this.intervalMs, STALE_MIN_MS);
    const result: Freshness = { serving: 0, missing: 0, reasons: [] };
    for (const w of this.source.liveWorkers()) {
      if (!serving(w)) continue;
      result.serving++;
      const t = this.track(w);
      if (t.error !== undefined) {
        result.missing++;
        result.reasons.push(`collect failed: ${t.error}`);
      } else if (now - t.heardAt > staleMs) {
        result.missing++;
        result.reasons.push(`no push for ${now - t.heardAt} ms`);
      }
    }
    return result;
  }

  close(): void {
    this.source.off('message', this.onMessage);
    this.source.off('exit', this.onExit);
    this.source.off('listening', this.onListening);
  }

  private receive(w: PushingWorker, m: unknown): void {
    const push = m as Partial<MetricsPush> | undefined;
    if (push?.type !== 'sockrun:metrics-push' || typeof push.seq !== 'number') return;
    const t = this.track(w);
    const inOrder = push.seq === t.seq + 1;
    t.seq = push.seq;
    t.heardAt = this.now();
    if (typeof push.error === 'string') {
      t.error = push.error;
      return;
    }
    if (!push.full && !(t.base && inOrder)) return this.ask(w); // nothing to apply it to
    let families;
    try {
      families = parseFamilies(push.families);
    } catch {
      t.error = 'malformed push';
      t.base = false;
      return this.ask(w);
    }
    t.error = undefined;
    t.base = true;
    const removed = Array.isArray(push.removed) ? push.removed.filter((n): n is string => typeof n === 'string') : [];
    this.app.apply(t.serial, { families, removed, full: push.full === true }, push.seq);
  }

  /** Asks for a full push, at most once a push interval. */
  private ask(w: PushingWorker): void {
    const t = this.track(w);
    const now = this.now();
    if (now - t.askedAt < this.intervalMs || !w.child.connected) return;
    t.askedAt = now;
    w.send({ type: 'sockrun:collect-metrics' });
  }

  private track(w: PushingWorker): Track {
    let t = this.tracks.get(w);
    if (!t) this.tracks.set(w, (t = { serial: this.nextSerial++, seq: 0, base: false, heardAt: this.now(), askedAt: -Infinity, error: undefined }));
    return t;
  }
}

function serving(w: PushingWorker): boolean {
  return w.stage === 'LISTENING' || w.stage === 'DRAINING';
}
