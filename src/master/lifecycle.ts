/**
 * The master's lifecycle: one state at a time, changed only through this table (DESIGN §4).
 * State names appear verbatim in logs, probe bodies, `sockrun status` and systemd's STATUS=.
 */
export type MasterState = 'STARTING' | 'READY' | 'RELOADING' | 'DRAINING' | 'STOPPED';

export type LifecycleEvent =
  | 'all-listening'   // every worker of the first generation listens
  | 'reload'          // SIGHUP, `sockrun reload`
  | 'reload-done'     // every serving worker is of the new generation
  | 'reload-aborted'  // a worker of the new generation failed to boot
  | 'drain'           // SIGTERM, SIGINT, `sockrun shutdown`
  | 'stop'            // SIGQUIT, `sockrun stop`, a second SIGTERM/SIGINT while draining
  | 'drained'         // every worker exited after a drain
  | 'boot-failed';    // no worker of the first generation could boot

const TRANSITIONS: Record<MasterState, Partial<Record<LifecycleEvent, MasterState>>> = {
  STARTING: { 'all-listening': 'READY', drain: 'DRAINING', stop: 'STOPPED', 'boot-failed': 'STOPPED' },
  READY: { reload: 'RELOADING', drain: 'DRAINING', stop: 'STOPPED' },
  RELOADING: { reload: 'RELOADING', 'reload-done': 'READY', 'reload-aborted': 'READY', drain: 'DRAINING', stop: 'STOPPED' },
  DRAINING: { drained: 'STOPPED', stop: 'STOPPED' },
  STOPPED: {},
};

/** The next state, or undefined when the event does not apply in `from` (the caller logs and ignores it). */
export function transition(from: MasterState, event: LifecycleEvent): MasterState | undefined {
  return TRANSITIONS[from][event];
}
