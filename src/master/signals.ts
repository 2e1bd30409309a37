/**
 * How the master hears SIGHUP, SIGTERM, SIGINT and SIGQUIT: through the caller's early handlers
 * (cli/early-signals.ts, installed before anything loads) or its own. Either way a handler only
 * hands the signal to the master's queue (gunicorn's arbiter), so a SIGHUP never interleaves
 * with a SIGTERM drain.
 */
const SIGNALS: NodeJS.Signals[] = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGQUIT'];

/**
 * Starts delivering the four signals to `enqueue`. The returned function stops that and leaves
 * no-op handlers in place: a late signal (a second SIGTERM) must not kill the process with the
 * default action while it cleans up.
 */
export function routeMasterSignals(
  enqueue: (signal: NodeJS.Signals) => void,
  caughtEarly?: (to: (signal: NodeJS.Signals) => void) => void,
): () => void {
  if (caughtEarly) {
    caughtEarly(enqueue);
    return () => {};
  }
  const handlers = SIGNALS.map((signal) => {
    // NO work here: only enqueue (applied in order by the master's run()).
    const handler = () => enqueue(signal);
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) {
      process.removeListener(signal, handler);
      process.on(signal, () => {});
    }
  };
}
