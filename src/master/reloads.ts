/**
 * A reload's bookkeeping, apart from the master's event loop (master.ts): resolving the release
 * the new generation runs (`current` may point elsewhere since the start: issue 12 §3), when the
 * rollout began, who waits for its end (`sockrun reload`, `systemctl reload` through the control
 * socket), and the one result every observer gets. When a rollout is done or aborted is decided
 * by master.ts (reconcile) and rollout.ts (abortReason); what it then means is here.
 */
import type { Logger } from 'pino';
import type { Generations } from './generations';
import { Release, resolveRelease } from './release';
import type { ControlResult, MasterOptions } from './types';
import type { MasterState } from './lifecycle';

/** What every observer of a reload gets ('reload' event) and what `sockrun reload` answers. */
export interface ReloadResult extends ControlResult {
  generation: number;
  durationMs: number;
}

/** The master as a reload sees it. */
export interface ReloadHost {
  readonly state: MasterState;
  move(event: 'reload' | 'reload-done' | 'reload-aborted'): void;
  emit(event: 'reload', result: ReloadResult): unknown;
}

export class Reloads {
  private startedAt = 0;
  private waiters: ((r: ControlResult) => void)[] = [];

  constructor(
    private readonly host: ReloadHost,
    private readonly generations: Generations,
    private readonly paths: MasterOptions['paths'],
    private readonly log: Logger,
  ) {}

  /**
   * SIGHUP or `sockrun reload`: the next generation begins, from the release the paths resolve to
   * now. A reload during a reload rolls out yet another generation, timed from the first.
   * Refused (nothing changes) while starting or draining, or when the release cannot be resolved.
   */
  start(reply?: (r: ControlResult) => void): void {
    const { state } = this.host;
    if (state !== 'READY' && state !== 'RELOADING') {
      const message = `reload ignored while ${state}`;
      this.log.warn({ state }, message);
      reply?.({ ok: false, message, notNow: true });
      return;
    }
    let release: Release;
    try {
      release = resolveRelease(this.paths);
    } catch (err) {
      const result = { ok: false, message: `cannot reload: ${(err as Error).message}`, generation: this.generations.current, durationMs: 0 };
      this.log.error(result, 'reload aborted; the previous workers keep serving');
      this.host.emit('reload', result);
      reply?.(result);
      return;
    }
    if (reply) this.waiters.push(reply);
    if (state === 'READY') this.startedAt = Date.now();
    this.generations.begin(release);
    this.host.move('reload');
    this.log.info({ generation: this.generations.current, cwd: release.cwd, app: release.app }, `reload: rolling out generation ${this.generations.current}`);
  }

  /** The rollout ended: done (every old worker exited) or aborted (the wanted generation goes back to the last good one). */
  finish(ok: boolean, message: string): void {
    const durationMs = Date.now() - this.startedAt;
    const attempted = this.generations.finish(ok); // after an abort, plan.ts drains the new generation's workers
    this.host.move(ok ? 'reload-done' : 'reload-aborted');
    const result = { ok, message, generation: attempted, durationMs };
    if (ok) this.log.info(result, 'reload complete');
    else this.log.error({ ...result, serving: this.generations.current }, 'reload aborted; the previous workers keep serving');
    this.host.emit('reload', result);
    for (const reply of this.waiters.splice(0)) reply(result);
  }

  /** The master stopped mid-rollout: whoever waits is told. */
  abandon(): void {
    for (const reply of this.waiters.splice(0)) reply({ ok: false, message: 'master stopped during the reload' });
  }
}
