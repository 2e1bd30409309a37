/**
 * What /livez, /readyz and /healthz decide, as pure functions of the master's snapshot and the
 * admin port's own inputs (ECV switch, monitor and validator results). No I/O: unit-tested
 * without a process (test/unit/admin-checks.test.ts).
 *
 * Liveness is the master's own health only (its loop ticks, it supervises): a liveness failure
 * restarts the pod, and a restart must never be the answer to a slow app or dependency.
 * Readiness is everything a load balancer needs: enough workers listening, not draining, ECV
 * enabled, validation passing.
 */
import type { MasterSnapshot } from '../master/master';

/** One named check, as Kubernetes components list them under `?verbose`. */
export interface Check {
  name: string;
  ok: boolean;
  /** Short and safe to show anyone: counts, state names, the check's own error message. */
  message: string;
}

/** The last result of a periodic check (--ecv-monitor, --validator). */
export interface CheckOutcome {
  ok: boolean;
  message: string;
  /** When the check finished (ms since the epoch). */
  at: number;
}

export type ProbeSnapshot = Pick<MasterSnapshot, 'state' | 'generation' | 'workersTarget' | 'workersReady' | 'workers' | 'loopHealthy'>;

export interface ReadinessInputs {
  snapshot: ProbeSnapshot;
  /** --min-ready; undefined means every worker (workersTarget). */
  minReady: number | undefined;
  ecv: { enabled: boolean; reason: string };
  /** Absent when not configured; null until the first run finished. */
  monitor?: CheckOutcome | null;
  validator?: CheckOutcome | null;
}

/**
 * Workers that serve traffic right now. Normally: the current generation's listening workers.
 * During a reload the old generation still serves (make before break: an old worker drains
 * only once its replacement listens), so every listening worker counts; /readyz stays 200
 * through a reload as long as capacity holds.
 */
export function servingWorkers(s: ProbeSnapshot): number {
  if (s.state !== 'RELOADING') return s.workersReady;
  return s.workers.filter((w) => w.stage === 'LISTENING').length;
}

export function livenessChecks(s: ProbeSnapshot): Check[] {
  return [
    { name: 'loop', ok: s.loopHealthy, message: s.loopHealthy ? 'master loop ticking' : 'master loop stalled (no supervision tick recently)' },
    { name: 'supervisor', ok: s.state !== 'STOPPED', message: s.state === 'STOPPED' ? 'STOPPED: no longer supervising' : `${s.state}: supervising ${s.workers.length} workers` },
  ];
}

export function readinessChecks(i: ReadinessInputs): Check[] {
  const s = i.snapshot;
  const need = i.minReady ?? s.workersTarget;
  const serving = servingWorkers(s);
  const checks: Check[] = [
    {
      name: 'workers',
      ok: serving >= need,
      message: `${serving}/${s.workersTarget} workers ready${need === s.workersTarget ? '' : ` (min ${need})`}${s.state === 'RELOADING' ? ' across generations' : ''}`,
    },
    {
      name: 'shutdown',
      ok: s.state !== 'DRAINING' && s.state !== 'STOPPED',
      message: s.state === 'DRAINING' || s.state === 'STOPPED' ? `${s.state}: shutting down` : s.state,
    },
    { name: 'ecv', ok: i.ecv.enabled, message: i.ecv.reason },
  ];
  if (i.monitor !== undefined) checks.push(periodic('monitor', i.monitor));
  if (i.validator !== undefined) checks.push(periodic('validator', i.validator));
  return checks;
}

function periodic(name: string, outcome: CheckOutcome | null): Check {
  if (outcome === null) return { name, ok: false, message: 'not run yet' };
  return { name, ok: outcome.ok, message: outcome.message };
}

export type ProbeKind = 'livez' | 'readyz' | 'healthz';

export interface ProbeOptions {
  verbose: boolean;
  /** Check names to leave out of the verdict (`?exclude=monitor`, as Kubernetes components). */
  exclude: string[];
}

export interface ProbeAnswer {
  status: 200 | 503;
  body: string;
}

const FAILED_WORD: Record<ProbeKind, string> = { livez: 'not alive', readyz: 'not ready', healthz: 'unhealthy' };

/**
 * The answer to GET /livez, /readyz or /healthz. The short body always says why: the master's
 * state, workers ready/total, and each failing check. `?verbose` lists every check the way
 * Kubernetes components do (`[+]name ok`, `[-]name failed: why`, then `<kind> check passed`).
 */
export function probeAnswer(kind: ProbeKind, checks: Check[], s: ProbeSnapshot, o: ProbeOptions): ProbeAnswer {
  const counted = checks.filter((c) => !o.exclude.includes(c.name));
  const ok = counted.every((c) => c.ok);
  const status = ok ? 200 : 503;
  if (o.verbose) {
    const lines = checks.map((c) => {
      if (o.exclude.includes(c.name)) return `[+]${c.name} excluded: ok`;
      return c.ok ? `[+]${c.name} ok: ${c.message}` : `[-]${c.name} failed: ${c.message}`;
    });
    lines.push(`${kind} check ${ok ? 'passed' : 'failed'}`);
    return { status, body: lines.join('\n') + '\n' };
  }
  const failing = counted.filter((c) => !c.ok).map((c) => `; ${c.name}: ${c.message}`).join('');
  return { status, body: `${ok ? 'ok' : FAILED_WORD[kind]}: ${s.state}, ${servingWorkers(s)}/${s.workersTarget} workers ready${failing}\n` };
}

/** GET /<kind>/<check>: one check alone, `ok` or the reason (Kubernetes' per-check paths). */
export function singleCheckAnswer(check: Check): ProbeAnswer {
  return check.ok ? { status: 200, body: 'ok\n' } : { status: 503, body: `${check.name} failed: ${check.message}\n` };
}

/** A check's message on one short line: user text (a validator's error) must not reshape a probe body. */
export function oneLine(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
