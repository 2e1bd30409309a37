import { BACKOFF_CAP_MS, PlanInput, PlanWorker, backoffMs, countFailure, plan } from '../../src/master/plan';
import { abortReason, describeFailure, settled } from '../../src/master/rollout';

const w = (id: number, generation: number, stage: PlanWorker['stage'] = 'LISTENING', extra: Partial<PlanWorker> = {}): PlanWorker =>
  ({ id, generation, stage, spawnedAt: id, ...extra });
const run = (workers: PlanWorker[], over: Partial<PlanInput> = {}) =>
  plan({ workers, target: 2, generation: 1, surge: 1, maySpawn: true, ...over });

describe('plan: converging on the target fleet', () => {
  test('at start, every missing worker is spawned at once', () => {
    expect(run([], { target: 4 })).toEqual({ spawn: 4, drain: [] });
  });

  test('a crashed worker is refilled at once, unless a backoff is pending', () => {
    expect(run([w(0, 1)]).spawn).toBe(1);
    expect(run([w(0, 1)], { maySpawn: false }).spawn).toBe(0);
  });

  test('during the drain delay only what died is refilled: no reload or recycle progresses', () => {
    expect(run([w(0, 1)], { refillOnly: true })).toEqual({ spawn: 1, drain: [] });
    expect(run([w(0, 1), w(1, 1, 'LISTENING', { recycleDue: 'age' })], { refillOnly: true })).toEqual({ spawn: 0, drain: [] });
  });
});

describe('plan: a reload, blue/green (surge = target, the default)', () => {
  const gen2 = { generation: 2, surge: 2 };
  test('the whole new generation boots beside the old one', () => {
    expect(run([w(0, 1), w(1, 1)], gen2)).toEqual({ spawn: 2, drain: [] });
  });

  test('no old worker drains while any new one is unproven (listening but still settling)', () => {
    const fleet = [w(0, 1), w(1, 1), w(2, 2, 'LISTENING'), w(3, 2, 'SETTLING')];
    expect(run(fleet, gen2)).toEqual({ spawn: 0, drain: [] });
  });

  test('once every new worker is booted, the old generation drains', () => {
    const fleet = [w(0, 1), w(1, 1), w(2, 2), w(3, 2)];
    expect(run(fleet, gen2)).toEqual({ spawn: 0, drain: [{ id: 0, reason: 'reload' }, { id: 1, reason: 'reload' }] });
  });

  test('after an abort (wanted generation back to 1), the unproven new workers drain at once and the old fleet is whole', () => {
    const fleet = [w(0, 1), w(1, 1), w(2, 2, 'SETTLING'), w(3, 2, 'SPAWNED')];
    expect(run(fleet, { generation: 1, surge: 2 })).toEqual({ spawn: 0, drain: [{ id: 2, reason: 'aborted' }, { id: 3, reason: 'aborted' }] });
  });
});

describe('plan: a reload one at a time (surge = 1)', () => {
  test('one surge worker starts while the stale ones keep serving; no second one while it settles', () => {
    expect(run([w(0, 1), w(1, 1)], { generation: 2 })).toEqual({ spawn: 1, drain: [] });
    expect(run([w(0, 1), w(1, 1), w(2, 2, 'SPAWNED')], { generation: 2 })).toEqual({ spawn: 0, drain: [] });
    expect(run([w(0, 1), w(1, 1), w(2, 2, 'SETTLING')], { generation: 2 })).toEqual({ spawn: 0, drain: [] });
  });

  test('once the surge worker is booted, the oldest stale worker drains and the next surge starts', () => {
    expect(run([w(0, 1), w(1, 1), w(2, 2)], { generation: 2 })).toEqual({ spawn: 1, drain: [{ id: 0, reason: 'reload' }] });
  });

  test('draining the last stale worker does not start a needless extra worker', () => {
    const fleet = [w(0, 1, 'DRAINING'), w(1, 1), w(2, 2), w(3, 2)];
    expect(run(fleet, { generation: 2 })).toEqual({ spawn: 0, drain: [{ id: 1, reason: 'reload' }] });
  });

  test('capacity never drops: a stale worker is never drained while only target workers are booted', () => {
    expect(run([w(0, 1), w(1, 2, 'SPAWNED')], { target: 1, generation: 2 }).drain).toEqual([]);
  });

  test('after an abort, a booted worker of the aborted generation is replaced by the old generation, make-before-break', () => {
    const fleet = [w(0, 1), w(1, 2)];
    expect(run(fleet, { generation: 1 })).toEqual({ spawn: 1, drain: [] });
    expect(run([...fleet, w(2, 1)], { generation: 1 })).toEqual({ spawn: 0, drain: [{ id: 1, reason: 'reload' }] });
  });
});

describe('plan: recycling', () => {
  test('replaces one due worker at a time, other generations first', () => {
    const fleet = [w(0, 2, 'LISTENING', { recycleDue: 'age' }), w(1, 1), w(2, 2)];
    expect(run(fleet, { generation: 2 }).drain).toEqual([{ id: 1, reason: 'reload' }]);
    const due = [w(0, 1, 'LISTENING', { recycleDue: 'age' }), w(1, 1, 'LISTENING', { recycleDue: 'connections' })];
    expect(run(due)).toEqual({ spawn: 1, drain: [] }); // outside a reload the master plans with surge 1
  });

  test('the due worker drains only once its replacement is booted, not when it merely listens', () => {
    const due = [w(0, 1, 'LISTENING', { recycleDue: 'age' }), w(1, 1)];
    expect(run([...due, w(2, 1, 'SETTLING')])).toEqual({ spawn: 0, drain: [] });
    expect(run([...due, w(2, 1)])).toEqual({ spawn: 0, drain: [{ id: 0, reason: 'recycle' }] });
  });
});

describe('rollout: what counts as booted, and what aborts a reload', () => {
  test('a worker is booted only after it listened and stayed alive for the settle period', () => {
    expect(settled({ stage: 'SETTLING', listeningAt: 1000 }, 2999, 2000)).toBe(false);
    expect(settled({ stage: 'SETTLING', listeningAt: 1000 }, 3000, 2000)).toBe(true);
    expect(settled({ stage: 'SPAWNED' }, 9999, 2000)).toBe(false);
  });

  test('any worker of the generation being rolled out that dies aborts the reload, with the app\'s error', () => {
    const casualty = { id: 1, generation: 3, code: 1, signal: null, listeningAt: 1000, error: 'connect ECONNREFUSED 127.0.0.1:5432' };
    expect(abortReason(true, 3, casualty, 1300)).toBe('worker 1 of generation 3 exited with code 1 300 ms after listening: connect ECONNREFUSED 127.0.0.1:5432');
    expect(abortReason(true, 4, casualty, 1300)).toBeUndefined();
    expect(abortReason(false, 3, casualty, 1300)).toBeUndefined();
  });

  test('failures read as sentences', () => {
    expect(describeFailure({ id: 0, generation: 1, code: 0, signal: null }, 5)).toBe('exited with code 0 before listening');
    expect(describeFailure({ id: 0, generation: 1, code: null, signal: 'SIGKILL', listeningAt: 0 }, 5)).toBe('was killed by SIGKILL 5 ms after listening');
    expect(describeFailure({ id: 0, generation: 1, code: null, signal: null, listeningAt: 0, stoppedServing: true }, 5)).toBe('stopped serving (its server closed) 5 ms after listening');
  });
});

describe('crash backoff', () => {
  test('the first failure respawns at once, then 100 ms doubling, capped', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n))).toEqual([0, 100, 200, 400, 800]);
    expect(backoffMs(30)).toBe(BACKOFF_CAP_MS);
  });

  test('a crash loop reaches the cap and stays there: one crash per cap, not a reset every window', () => {
    // Simulate a worker that dies 300 ms after every spawn: the next spawn waits the backoff.
    let s = { failures: 0, lastAt: -Infinity };
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      s = countFailure(s, now);
      const d = backoffMs(s.failures);
      delays.push(d);
      now += d + 300;
    }
    expect(delays.slice(-5)).toEqual([BACKOFF_CAP_MS, BACKOFF_CAP_MS, BACKOFF_CAP_MS, BACKOFF_CAP_MS, BACKOFF_CAP_MS]);
  });

  test('a failure long after the previous one starts a new count', () => {
    expect(countFailure({ failures: 9, lastAt: 0 }, 2 * BACKOFF_CAP_MS + 1).failures).toBe(1);
  });
});
