import type { WorkerStats } from '../protocol';

export type RecycleReason = 'connections' | 'requests' | 'memory' | 'age';

export interface RecycleLimits {
  connections: number;
  requests: number;
  memoryBytes: number;
  ageMs: number;
  jitterMs: number;
}

/**
 * A worker's own limits, drawn once at spawn: each count and memory limit is raised by up to
 * 10 % and the age by up to `jitterMs` (10 % of the age when 0), at random, so workers started
 * together do not all recycle together. `random` is injectable for tests.
 */
export function jitterLimits(limits: RecycleLimits, random: () => number = Math.random): RecycleLimits {
  const up = (n: number) => Math.round(n * (1 + 0.1 * random()));
  const ageJitter = limits.jitterMs > 0 ? limits.jitterMs : limits.ageMs * 0.1;
  return {
    connections: up(limits.connections),
    requests: up(limits.requests),
    memoryBytes: up(limits.memoryBytes),
    ageMs: limits.ageMs > 0 ? Math.round(limits.ageMs + ageJitter * random()) : 0,
    jitterMs: limits.jitterMs,
  };
}

/** The first limit this worker crossed, if any. A limit of 0 is off. */
export function recycleReason(stats: WorkerStats | undefined, ageMs: number, limits: RecycleLimits): RecycleReason | undefined {
  if (limits.ageMs > 0 && ageMs >= limits.ageMs) return 'age';
  if (!stats) return undefined;
  if (limits.connections > 0 && stats.connectionsTotal >= limits.connections) return 'connections';
  if (limits.requests > 0 && stats.requestsTotal >= limits.requests) return 'requests';
  if (limits.memoryBytes > 0 && stats.rssBytes >= limits.memoryBytes) return 'memory';
  return undefined;
}
