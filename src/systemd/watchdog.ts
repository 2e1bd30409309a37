/**
 * The watchdog half of sd_watchdog_enabled(3), as pure functions so the arithmetic is
 * unit-tested without a timer or a service manager.
 */

/** Why the watchdog is off, or the period at which the master must send `WATCHDOG=1`. */
export type WatchdogPlan =
  | { enabled: true; timeoutUsec: number; intervalMs: number }
  | { enabled: false; reason: 'no WATCHDOG_USEC' | 'bad WATCHDOG_USEC' | 'WATCHDOG_PID is another process' | 'bad WATCHDOG_PID' };

/**
 * Reads `WATCHDOG_USEC` and `WATCHDOG_PID` exactly as sd_watchdog_enabled(3) does: the
 * watchdog applies only when `WATCHDOG_USEC` is a positive integer and `WATCHDOG_PID`, when
 * present, names `pid`. systemd kills the service when no `WATCHDOG=1` arrives within
 * `WATCHDOG_USEC`; sd_watchdog_enabled(3) recommends pinging at half of it, which leaves one
 * full missed beat of slack for a busy loop.
 */
export function planWatchdog(env: NodeJS.ProcessEnv, pid: number): WatchdogPlan {
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || usecText === '') return { enabled: false, reason: 'no WATCHDOG_USEC' };
  if (!/^\d+$/.test(usecText)) return { enabled: false, reason: 'bad WATCHDOG_USEC' };
  const timeoutUsec = Number(usecText);
  if (!Number.isSafeInteger(timeoutUsec) || timeoutUsec === 0) return { enabled: false, reason: 'bad WATCHDOG_USEC' };
  const pidText = env.WATCHDOG_PID;
  if (pidText !== undefined && pidText !== '') {
    if (!/^\d+$/.test(pidText)) return { enabled: false, reason: 'bad WATCHDOG_PID' };
    if (Number(pidText) !== pid) return { enabled: false, reason: 'WATCHDOG_PID is another process' };
  }
  return { enabled: true, timeoutUsec, intervalMs: watchdogIntervalMs(timeoutUsec) };
}

/**
 * Half of the watchdog timeout, in whole milliseconds, never below 1 ms (a timer of 0 ms would
 * spin). Node timers hold at most 2^31-1 ms (~24.8 days); a longer period is clamped to that,
 * which only pings more often than needed.
 */
export function watchdogIntervalMs(timeoutUsec: number): number {
  return Math.min(Math.max(1, Math.floor(timeoutUsec / 2000)), 2 ** 31 - 1);
}
