/**
 * Monotonic fleet totals of what workers count and ping (connections, requests): the live
 * workers' last pinged totals plus everything exited workers ever pinged. A ping that arrives
 * after its worker's exit was processed (the final ping a draining worker sends can race its
 * exit) adds what grew since, so the total never goes down and loses no final count.
 */
export class TotalsLedger<K extends string> {
  private readonly live = new Map<object, Record<K, number>>();
  private readonly gone = new WeakMap<object, Record<K, number>>();
  private readonly retired: Record<K, number>;

  constructor(private readonly keys: readonly K[]) {
    this.retired = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  }

  /** A worker's totals since it started, from a ping. */
  observe(worker: object, totals: Record<K, number>): void {
    const last = this.gone.get(worker);
    if (last) {
      for (const k of this.keys) {
        if (totals[k] > last[k]) {
          this.retired[k] += totals[k] - last[k];
          last[k] = totals[k];
        }
      }
      return;
    }
    const before = this.live.get(worker);
    const next = { ...totals };
    // Totals of one process only grow; never let a reordered or bogus ping pull them back.
    if (before) for (const k of this.keys) next[k] = Math.max(next[k], before[k]);
    this.live.set(worker, next);
  }

  /** The worker exited: its last totals are kept. */
  retire(worker: object): void {
    if (this.gone.has(worker)) return;
    const last = this.live.get(worker) ?? (Object.fromEntries(this.keys.map((k) => [k, 0])) as Record<K, number>);
    for (const k of this.keys) this.retired[k] += last[k];
    this.live.delete(worker);
    this.gone.set(worker, { ...last });
  }

  total(k: K): number {
    let sum = this.retired[k];
    for (const t of this.live.values()) sum += t[k];
    return sum;
  }
}
