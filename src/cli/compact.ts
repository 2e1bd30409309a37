/**
 * Gives the master's start-up garbage back (issue 16, "a lighter master"). Starting a fleet
 * allocates in bursts (options, module compilation, spawning, the first pings and pushes), so V8
 * grows its young generation to several MB and then keeps it: an idle master stayed ~4.5 MB of
 * anonymous memory above what it holds live. Each time the master becomes READY (after the
 * start, and after every reload, done or aborted), once it has been quiet for QUIET_MS, one
 * memory-reducing full GC (the one V8 runs under memory pressure) shrinks the heap back.
 *
 * Measured (bench/README.md, 2 workers, idle after load): master RSS -4.3 MB on Node 22, 24 and
 * 26; the GC itself takes ~5-10 ms of the master's CPU, once per start or reload, never on a
 * request's path.
 */

/** How long the master must stay READY before the GC: a burst of events right after is let through. */
const QUIET_MS = 500;

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let gc: Gc | null | undefined;

/** V8's gc() for this process, without putting it in the app's or anyone's global scope; null when the flag cannot be set. */
function getGc(): Gc | null {
  if (gc !== undefined) return gc;
  // Node started with --expose-gc (the cluster2 facade runs the master in the app's process): use it, change no flag.
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return (gc = own as Gc);
  try {
    // Required here, not at start-up (issue 16: nothing the first spawn does not need).
    const { setFlagsFromString } = require('node:v8') as typeof import('node:v8');
    setFlagsFromString('--expose-gc');
    // A fresh context gets `gc` as a global; the master's own global scope never does.
    gc = (require('node:vm') as typeof import('node:vm')).runInNewContext('gc') as Gc;
    setFlagsFromString('--no-expose-gc');
  } catch {
    gc = null;
  }
  return gc;
}

/** Compacts the heap each time the master settles into READY. Returns the detach function. */
export function compactWhenReady(master: {
  on(event: 'state', listener: (to: string) => void): unknown;
  off(event: 'state', listener: (to: string) => void): unknown;
}): () => void {
  let timer: NodeJS.Timeout | undefined;
  const onState = (to: string) => {
    clearTimeout(timer);
    if (to !== 'READY') return;
    timer = setTimeout(() => getGc()?.({ type: 'major', execution: 'sync', flavor: 'last-resort' }), QUIET_MS).unref();
  };
  master.on('state', onState);
  return () => {
    clearTimeout(timer);
    master.off('state', onState);
  };
}
