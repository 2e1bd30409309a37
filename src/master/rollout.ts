/**
 * The rollout policy (DESIGN §4, issue 12 §1): what counts as "booted", and when a reload is
 * aborted. Pure functions; master.ts calls them and plan.ts acts on the stages they set.
 *
 * One notion of booted for every new worker — first start, reload, recycle, crash respawn: it
 * listened on every socket, then stayed alive and serving for the settle period. Until then it
 * is SETTLING: it already accepts connections (the kernel hands them to any worker in LISTEN),
 * but it does not count as ready, and no old worker is drained on its account.
 */
import type { WorkerStage } from './plan';

export interface SettlingWorker {
  stage: WorkerStage;
  /** When it told the master that it listens on every socket. */
  listeningAt?: number;
}

/** True once a SETTLING worker has stayed alive for `settleMs` since it listened. */
export function settled(w: SettlingWorker, now: number, settleMs: number): boolean {
  return w.stage === 'SETTLING' && w.listeningAt !== undefined && now - w.listeningAt >= settleMs;
}

export interface Casualty {
  id: number;
  generation: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When it listened, if it did. */
  listeningAt?: number;
  /** What the app said (an uncaught exception's message), if anything. */
  error?: string;
  /** The worker closed its servers instead of exiting. */
  stoppedServing?: boolean;
}

/**
 * Why a reload must be aborted because of this worker, or undefined. Any worker of the
 * generation being rolled out that dies or stops serving before the rollout completed aborts
 * it — whether it was still booting, settling, or already booted: a generation that loses a
 * worker during its own rollout is not fit to replace one that works.
 */
export function abortReason(reloading: boolean, wanted: number, w: Casualty, now: number): string | undefined {
  if (!reloading || w.generation !== wanted) return undefined;
  return `worker ${w.id} of generation ${w.generation} ${describeFailure(w, now)}`;
}

/** "exited with code 1 300 ms after listening: connect ECONNREFUSED 127.0.0.1:5432". */
export function describeFailure(w: Casualty, now: number): string {
  const how = w.stoppedServing ? 'stopped serving (its server closed)'
    : w.signal ? `was killed by ${w.signal}`
    : `exited with code ${w.code}`;
  const when = w.listeningAt === undefined ? 'before listening' : `${now - w.listeningAt} ms after listening`;
  return `${how} ${when}${w.error ? `: ${w.error}` : ''}`;
}
