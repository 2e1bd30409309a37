/**
 * The supervision tick's deadlines, as one pure decision per worker (DESIGN §4): what is due for
 * a worker at `now` — the end of its settle period, a boot or graceful timeout, a hang, a
 * recycling limit. master.ts applies the answer (logs, kills, emits).
 */
import type { WorkerStage } from './plan';
import { RecycleLimits, RecycleReason, recycleReason } from './recycle';
import { settled } from './rollout';
import type { WorkerStats } from '../protocol';

export interface SupervisedWorker {
  stage: WorkerStage;
  spawnedAt: number;
  listeningAt?: number;
  lastPingAt: number;
  drainStartedAt?: number;
  recycleDue?: string;
  /** Its rollout checks are running (the settle period is over, the verdict is not in). */
  gated: boolean;
  stats?: WorkerStats;
  limits: RecycleLimits;
}

export interface Deadlines {
  settleMs: number;
  bootTimeoutMs: number;
  hangTimeoutMs: number;
  gracefulTimeoutMs: number;
  /** Recycling waits for READY and stops in a drain. */
  mayRecycle: boolean;
}

export type Due =
  | { kind: 'settled' }
  | { kind: 'boot-timeout' }
  | { kind: 'hang'; silentMs: number }
  | { kind: 'recycle'; reason: RecycleReason }
  | { kind: 'graceful-timeout' };

/** What is due for `w` now, if anything (at most one thing per tick). */
export function due(w: SupervisedWorker, now: number, d: Deadlines): Due | undefined {
  if (settled(w, now, d.settleMs) && !w.gated) return { kind: 'settled' };
  if (w.stage === 'SPAWNED') return d.bootTimeoutMs > 0 && now - w.spawnedAt > d.bootTimeoutMs ? { kind: 'boot-timeout' } : undefined;
  if ((w.stage === 'LISTENING' || w.stage === 'SETTLING') && d.hangTimeoutMs > 0 && now - w.lastPingAt > d.hangTimeoutMs) {
    return { kind: 'hang', silentMs: now - w.lastPingAt };
  }
  if (w.stage === 'LISTENING' && w.recycleDue === undefined && d.mayRecycle) {
    const reason = recycleReason(w.stats, now - w.spawnedAt, w.limits);
    return reason ? { kind: 'recycle', reason } : undefined;
  }
  if (w.stage === 'DRAINING' && w.drainStartedAt !== undefined && now - w.drainStartedAt > d.gracefulTimeoutMs) return { kind: 'graceful-timeout' };
  return undefined;
}
