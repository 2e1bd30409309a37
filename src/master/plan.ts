/**
 * Pure supervision decisions, made after every event: which workers to spawn and which to
 * drain so that the fleet converges on `target` booted workers of the wanted generation.
 *
 * A worker is *booted* (stage LISTENING) only once it listened and then stayed alive for the
 * settle period (rollout.ts); before that it is SPAWNED (loading) or SETTLING (listening, not
 * yet proven). Issue 12: an app that listens and then crashes used to count as booted, and a
 * reload replaced a healthy fleet with a crash-looping one.
 *
 * Make-before-break: a stale worker (another generation, or due for recycling) is drained only
 * while more than `target` workers are booted *and no replacement is still unproven*, so old
 * workers leave only once their replacements are proven. With `surge` = target (the default)
 * a reload is blue/green: the whole new generation boots and settles beside the old one, then
 * the old one drains; an abort before that leaves the old generation whole. With `surge` = 1
 * replacements go one at a time (one extra worker's memory instead of a whole fleet's).
 * Crashed workers are refilled at once, whatever the surge.
 */
export type WorkerStage = 'SPAWNED' | 'SETTLING' | 'LISTENING' | 'DRAINING' | 'EXITED';

export interface PlanWorker {
  id: number;
  generation: number;
  stage: WorkerStage;
  spawnedAt: number;
  /** Set once a recycling limit was crossed; the worker is replaced like a stale one. */
  recycleDue?: string;
}

export interface PlanInput {
  workers: PlanWorker[];
  target: number;
  /** The generation the fleet should run: the newest reload's, or the last good one after an abort. */
  generation: number;
  /** How many replacements may be unproven at once during a reload or recycle (≥ 1). */
  surge: number;
  /** False while a crash backoff is pending: no spawn now. */
  maySpawn: boolean;
  /** Only replace what died (during the drain delay): no reload or recycle progresses. */
  refillOnly?: boolean;
}

export interface Plan {
  spawn: number;
  drain: { id: number; reason: 'reload' | 'recycle' | 'aborted' }[];
}

const isServing = (w: PlanWorker) => w.stage === 'SPAWNED' || w.stage === 'SETTLING' || w.stage === 'LISTENING';

export function plan({ workers, target, generation, surge, maySpawn, refillOnly = false }: PlanInput): Plan {
  const serving = workers.filter(isServing);
  const isStale = (w: PlanWorker) => w.generation !== generation || w.recycleDue !== undefined;
  const fresh = serving.filter((w) => !isStale(w));
  const unproven = fresh.filter((w) => w.stage !== 'LISTENING');
  const booted = serving.filter((w) => w.stage === 'LISTENING');
  const result: Plan = { spawn: 0, drain: [] };

  if (!refillOnly) {
    // A stale worker that is not proven yet serves no purpose: it belongs to an aborted or
    // superseded rollout. Drain it at once (it may be crash-looping code).
    for (const w of serving) {
      if (w.generation !== generation && w.stage !== 'LISTENING') result.drain.push({ id: w.id, reason: 'aborted' });
    }
    // Retire booted stale workers, only once no replacement is unproven and only while
    // capacity stays at target. Another generation first, then recycling; oldest first.
    if (unproven.length === 0) {
      const retirable = booted
        .filter(isStale)
        .sort((a, b) => Number(b.generation !== generation) - Number(a.generation !== generation) || a.spawnedAt - b.spawnedAt);
      let surplus = booted.length - target;
      for (const w of retirable) {
        if (surplus <= 0) break;
        result.drain.push({ id: w.id, reason: w.generation !== generation ? 'reload' : 'recycle' });
        surplus--;
      }
    }
  }
  if (!maySpawn) return result;
  const draining = new Set(result.drain.map((d) => d.id));
  const remaining = serving.filter((w) => !draining.has(w.id)).length;
  // Refill: crashed or killed workers are replaced at once (all in parallel at start).
  const shortfall = Math.max(0, target - remaining);
  // Replace: up to `surge` unproven replacements at a time while fresh workers are missing.
  const missingFresh = target - fresh.length - shortfall;
  const replace = refillOnly ? 0 : Math.max(0, Math.min(missingFresh, Math.max(1, surge) - unproven.length));
  result.spawn = shortfall + replace;
  return result;
}

/** Exponential crash backoff: 0 for the first failure, then 100 ms doubling to `capMs`. */
export function backoffMs(consecutiveFailures: number, capMs = BACKOFF_CAP_MS): number {
  if (consecutiveFailures <= 1) return 0;
  return Math.min(capMs, 100 * 2 ** (consecutiveFailures - 2));
}

export const BACKOFF_CAP_MS = 30_000;

/**
 * Counts consecutive failures: a failure more than `windowMs` after the previous one starts a
 * new count. The window must outlast the longest backoff plus a boot, or a crash loop that
 * reached the cap would reset itself (issue 12: with window = cap, 11 crashes per ~84 s instead
 * of one per 30 s). Two caps leave room for a slow boot.
 */
export function countFailure(prev: { failures: number; lastAt: number }, now: number, windowMs = 2 * BACKOFF_CAP_MS): { failures: number; lastAt: number } {
  return { failures: now - prev.lastAt > windowMs ? 1 : prev.failures + 1, lastAt: now };
}
