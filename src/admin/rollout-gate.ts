/**
 * The checks a new worker must pass during a reload before it counts as booted (issue 12 §1:
 * "when --ecv-monitor or validators are configured, they must also pass against the new
 * generation"). The master calls the gate once a worker of the generation being rolled out has
 * settled; until it passes, no old worker drains on its account; when it fails, the reload aborts.
 *
 * `--ecv-monitor` is asked of the new worker itself (worker/self-check.ts): through the shared
 * socket the kernel could hand the request to an old worker. A validator checks the app from the
 * outside (dependencies, the socket), so it runs as it does for /readyz.
 */
import type { Master } from '../master/master';
import type { WorkerHandle } from '../master/worker-handle';
import type { WorkerMessage } from '../protocol';
import type { Validator } from './validator';

export interface GateOutcome { ok: boolean; message: string }
export type RolloutGate = (w: WorkerHandle) => Promise<GateOutcome>;

/** Attempts per worker: a health endpoint that fails once while warming up does not abort a deploy. */
const ATTEMPTS = 3;
const RETRY_MS = 500;

let nextId = 1;

export function rolloutGate(master: Master, monitorPath: string | undefined, validator: Validator | undefined, timeoutMs: number): RolloutGate | undefined {
  if (monitorPath === undefined && validator === undefined) return undefined;
  return async (w) => {
    let last: GateOutcome = { ok: true, message: '' };
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const outcomes: GateOutcome[] = [];
      if (monitorPath !== undefined) outcomes.push(await askWorker(master, w, monitorPath, timeoutMs));
      if (validator !== undefined) outcomes.push(await validator.run(timeoutMs));
      last = outcomes.find((o) => !o.ok) ?? { ok: true, message: outcomes.map((o) => o.message).join('; ') };
      if (last.ok || !w.alive) return last;
      await new Promise((r) => setTimeout(r, RETRY_MS).unref());
    }
    return { ok: false, message: `${last.message} (${ATTEMPTS} attempts)` };
  };
}

function askWorker(master: Master, w: WorkerHandle, path: string, timeoutMs: number): Promise<GateOutcome> {
  const id = nextId++;
  return new Promise((resolve) => {
    const done = (o: GateOutcome) => {
      clearTimeout(timer);
      master.off('message', onMessage);
      resolve(o);
    };
    const onMessage = (from: WorkerHandle, m: WorkerMessage) => {
      if (from === w && m.type === 'sockrun:self-check-result' && m.id === id) done({ ok: m.ok, message: `--ecv-monitor ${m.message}` });
    };
    const timer = setTimeout(() => done({ ok: false, message: `--ecv-monitor GET ${path}: the worker did not answer within ${timeoutMs} ms` }), timeoutMs + 250);
    master.on('message', onMessage);
    w.send({ type: 'sockrun:self-check', id, path, timeoutMs });
  });
}
