/**
 * Runs one check (the ECV monitor, the validator) every interval, one run at a time, and keeps
 * its last outcome. A run can also be asked for at once (a worker just started listening):
 * readiness then need not wait a whole interval.
 */
import type { CheckOutcome } from './checks';

export class PeriodicCheck {
  /** null until the first run finished. */
  last: CheckOutcome | null = null;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    readonly name: string,
    private readonly check: () => Promise<CheckOutcome>,
    private readonly intervalMs: number,
    /** Called after every run, with whether the verdict (pass/fail) changed. */
    private readonly onResult: (outcome: CheckOutcome, changed: boolean) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runNow(), this.intervalMs);
    this.timer.unref();
    void this.runNow();
  }

  /** Runs the check now unless a run is already under way (the two would race on `last`). */
  async runNow(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const outcome = await this.check();
      if (this.stopped) return;
      const changed = this.last === null || this.last.ok !== outcome.ok;
      this.last = outcome;
      this.onResult(outcome, changed);
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }
}
