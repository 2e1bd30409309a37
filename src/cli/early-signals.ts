/**
 * Signal handlers from the first instant of `sockrun run` (issue 15 item 2).
 *
 * Without a handler, SIGHUP's default action kills the process, and as PID 1 of a container the
 * kernel drops SIGTERM and SIGINT: a signal sent while sockrun starts (after its pid file
 * appeared, even) used to kill the master without cleanup, or be lost so that a container went
 * on to READY after `docker stop`. So bin/sockrun.js installs these handlers before it loads
 * anything else; they only record the signal (gunicorn's arbiter: "just queue the signal"),
 * and whoever runs the process later — the master's event queue, or single-process mode —
 * receives everything caught so far, in order, then every later signal. Nothing else in the
 * process installs handlers for these signals.
 *
 * No imports: this module must load in microseconds.
 */
export const CONTROL_COMMANDS = ['reload', 'shutdown', 'stop', 'status'];
const SIGNALS = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

let caught: NodeJS.Signals[] | undefined;
let route: ((signal: NodeJS.Signals) => void) | undefined;

/** Installs the handlers unless `argv` is a control command (`sockrun reload`, … keep the defaults). */
export function catchSignalsEarly(argv: string[]): void {
  if (caught || CONTROL_COMMANDS.includes(argv[0])) return;
  caught = [];
  for (const signal of SIGNALS) process.on(signal, () => (route ? route(signal) : caught!.push(signal)));
}

/** Whether catchSignalsEarly() installed the handlers (the CLI); false for the cluster2 API. */
export function signalsCaughtEarly(): boolean {
  return caught !== undefined;
}

/** Hands every signal caught so far, then each later one, to `to`. Only after catchSignalsEarly(). */
export function routeSignals(to: (signal: NodeJS.Signals) => void): void {
  route = to;
  for (const signal of caught!.splice(0)) to(signal);
}
