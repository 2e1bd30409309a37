/**
 * Pure supervision decisions, made after every event: which workers to spawn and which to
 * drain so that the fleet converges on `target` listening workers of the current generation.
 *
 * Make-before-break (Puma's phased restart, one worker at a time): a stale worker (older
 * generation, or due for recycling) is drained only while more than `target` workers listen,
 * and a replacement is started only while no other worker is booting. So serving capacity never
 * drops below `target` because of a reload or a recycle; crashes are refilled at once.
 */
export type WorkerStage = 'SPAWNED' | 'LISTENING' | 'DRAINING' | 'EXITED';

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
  /** Workers of a generation below this are stale (a reload is rolling them). */
  staleBefore: number;
  /** False while a crash backoff is pending: no spawn now. */
  maySpawn: boolean;
}

export interface Plan {
  spawn: number;
  drain: { id: number; reason: 'reload' | 'recycle' }[];
}

export function plan({ workers, target, staleBefore, maySpawn }: PlanInput): Plan {
  const serving = workers.filter((w) => w.stage === 'SPAWNED' || w.stage === 'LISTENING');
  const isStale = (w: PlanWorker) => w.generation < staleBefore;
  const replaceable = serving.filter((w) => isStale(w) || w.recycleDue !== undefined);
  const booting = serving.filter((w) => w.stage === 'SPAWNED');
  const listening = serving.filter((w) => w.stage === 'LISTENING');

  const result: Plan = { spawn: 0, drain: [] };
  // Retire: only while capacity stays at target. Stale (reload) first, oldest first.
  const retirable = replaceable
    .filter((w) => w.stage === 'LISTENING')
    .sort((a, b) => Number(isStale(b)) - Number(isStale(a)) || a.spawnedAt - b.spawnedAt);
  let surplus = listening.length - target;
  for (const w of retirable) {
    if (surplus <= 0) break;
    result.drain.push({ id: w.id, reason: isStale(w) ? 'reload' : 'recycle' });
    surplus--;
  }
  if (!maySpawn) return result;
  // Spawning sees the drains just decided: a worker being drained no longer serves.
  const draining = new Set(result.drain.map((d) => d.id));
  const remaining = serving.length - draining.size;
  const stillReplaceable = replaceable.filter((w) => !draining.has(w.id)).length;
  // Refill: crashed or killed workers are replaced at once (all in parallel at start).
  const deficit = target - remaining;
  if (deficit > 0) result.spawn = deficit;
  // Replace: one surge worker at a time while anything is stale or due for recycling.
  else if (stillReplaceable > 0 && booting.length === 0) result.spawn = 1;
  return result;
}

/** Exponential crash backoff: 0 for the first failure, then 100 ms doubling to `capMs`. */
export function backoffMs(consecutiveFailures: number, capMs = 30_000): number {
  if (consecutiveFailures <= 1) return 0;
  return Math.min(capMs, 100 * 2 ** (consecutiveFailures - 2));
}
