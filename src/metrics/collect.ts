/**
 * Asks the workers for the app's metrics (`sockrun:collect-metrics`) and feeds their answers to
 * AppMetrics. One round at a time: scrapes that arrive while a round is out share it, so ten
 * scrapers cost the workers what one does. A round waits for every asked worker at most
 * `timeoutMs`; a worker that has not answered by then (busy, stopped, hung) makes the round
 * partial: its last answer stands in for it, so its counters still do not go backwards.
 */
import type { MasterMessage, WorkerMessage } from '../protocol';
import { AppMetrics } from './app';
import { MetricFamily, parseFamilies } from './family';

/** The worker as the collector sees it (master/worker-handle.ts). */
export interface CollectedWorker {
  readonly stage: string;
  readonly child: { readonly connected: boolean };
  send(message: MasterMessage): void;
}

/** The master as the collector sees it. */
export interface CollectorSource {
  liveWorkers(): CollectedWorker[];
  on(event: 'message', listener: (w: CollectedWorker, m: unknown) => void): unknown;
  on(event: 'exit' | 'listening', listener: (w: CollectedWorker) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

export interface RoundResult {
  /** Workers asked. */
  asked: number;
  /** Workers that did not answer in time, or answered with an error. */
  failed: number;
  /** Why, for the log: "no answer within 500 ms", the worker's error message. */
  reasons: string[];
}

interface Round {
  id: number;
  pending: Set<CollectedWorker>;
  result: RoundResult;
  finish: () => void;
}

export class WorkerCollector {
  private readonly serials = new WeakMap<CollectedWorker, number>();
  private nextSerial = 0;
  private nextRound = 0;
  private round: Round | undefined;
  private inFlight: Promise<RoundResult> | undefined;
  private readonly onMessage = (w: CollectedWorker, m: unknown) => this.answer(w, m as WorkerMessage);
  private readonly onExit = (w: CollectedWorker) => this.exited(w);
  /**
   * A worker that starts listening is asked once at once (id 0, before any round): the master
   * then has its values from the start, and the worker knows to send its final values when it
   * drains, even if no scrape came during its life.
   */
  private readonly onListening = (w: CollectedWorker) => w.send({ type: 'sockrun:collect-metrics', id: 0 });

  constructor(
    private readonly source: CollectorSource,
    readonly app: AppMetrics,
    private readonly timeoutMs: number,
  ) {
    source.on('message', this.onMessage);
    source.on('exit', this.onExit);
    source.on('listening', this.onListening);
  }

  /** Asks every listening or draining worker; resolves when all answered or at the deadline. Never rejects. */
  collect(): Promise<RoundResult> {
    this.inFlight ??= this.startRound().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  close(): void {
    this.source.off('message', this.onMessage);
    this.source.off('exit', this.onExit);
    this.source.off('listening', this.onListening);
    this.round?.finish();
  }

  private startRound(): Promise<RoundResult> {
    // Booting workers are not asked: a worker still loading the app can't answer quickly, and
    // has counted nothing yet.
    const targets = this.source.liveWorkers().filter((w) => (w.stage === 'LISTENING' || w.stage === 'DRAINING') && w.child.connected);
    const id = ++this.nextRound;
    const result: RoundResult = { asked: targets.length, failed: 0, reasons: [] };
    if (targets.length === 0) return Promise.resolve(result);
    return new Promise<RoundResult>((resolve) => {
      const timer = setTimeout(() => round.finish(), this.timeoutMs);
      timer.unref();
      const round: Round = {
        id,
        pending: new Set(targets),
        result,
        finish: () => {
          clearTimeout(timer);
          if (this.round === round) this.round = undefined;
          if (round.pending.size > 0) {
            result.failed += round.pending.size;
            result.reasons.push(`${round.pending.size} worker(s) gave no answer within ${this.timeoutMs} ms`);
            round.pending.clear();
          }
          resolve(result);
        },
      };
      this.round = round;
      for (const w of targets) w.send({ type: 'sockrun:collect-metrics', id });
    });
  }

  private answer(w: CollectedWorker, m: WorkerMessage): void {
    if (m?.type === 'sockrun:metrics-final') {
      const families = this.parse(m.metrics);
      if (families) this.app.update(this.serial(w), families, Infinity);
      return;
    }
    if (m?.type !== 'sockrun:metrics' || typeof m.id !== 'number') return;
    const families = m.metrics === null ? undefined : this.parse(m.metrics);
    // An answer after its round's deadline still refreshes the worker's values for later scrapes.
    if (families) this.app.update(this.serial(w), families, m.id);
    const round = this.round;
    if (!round || round.id !== m.id || !round.pending.delete(w)) return;
    if (!families) {
      round.result.failed++;
      round.result.reasons.push(m.error ? `a worker failed to collect: ${m.error}` : 'a worker answered with malformed metrics');
    }
    if (round.pending.size === 0) round.finish();
  }

  private exited(w: CollectedWorker): void {
    this.app.retire(this.serial(w));
    // Gone is not late: its final report, if any, came (or comes) on its own.
    const round = this.round;
    if (round?.pending.delete(w) && round.pending.size === 0) round.finish();
  }

  private parse(raw: unknown): MetricFamily[] | undefined {
    try {
      return parseFamilies(raw);
    } catch {
      return undefined;
    }
  }

  private serial(w: CollectedWorker): number {
    let s = this.serials.get(w);
    if (s === undefined) this.serials.set(w, (s = this.nextSerial++));
    return s;
  }
}
