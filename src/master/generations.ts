/**
 * Generation bookkeeping: which generation the fleet should run, the last one whose rollout
 * completed (what an aborted reload falls back to), and each live generation's pinned release.
 */
import type { Release } from './release';

/** The first generation's number: the workers spawned at start carry it. */
export const FIRST_GENERATION = 1;

export class Generations {
  /** What new workers carry: the newest reload's, or the last good one after an abort. */
  current = FIRST_GENERATION;
  /** The last generation whose rollout completed. */
  good = FIRST_GENERATION;
  /** The newest number handed out (an aborted one is never reused). */
  private newest = FIRST_GENERATION;
  private readonly releases = new Map<number, Release>();

  constructor(first: Release) {
    this.releases.set(FIRST_GENERATION, first);
  }

  /** A reload starts: a new generation with the release resolved now. */
  begin(release: Release): number {
    this.current = ++this.newest;
    this.releases.set(this.current, release);
    return this.current;
  }

  /** The rollout ended: kept (ok) or given up for the last good generation. Returns the attempted one. */
  finish(ok: boolean): number {
    const attempted = this.current;
    if (ok) this.good = this.current;
    else this.current = this.good;
    return attempted;
  }

  /** The release new workers of the current generation run. */
  release(): Release {
    return this.releases.get(this.current)!;
  }

  all(): ReadonlyMap<number, Release> {
    return this.releases;
  }

  /** Forgets the releases of generations with no live worker that can never be spawned again. */
  prune(liveGenerations: number[]): void {
    const inUse = new Set([this.current, this.good, ...liveGenerations]);
    for (const g of this.releases.keys()) if (!inUse.has(g)) this.releases.delete(g);
  }
}
