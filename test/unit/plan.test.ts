import { PlanWorker, backoffMs, plan } from '../../src/master/plan';

const w = (id: number, generation: number, stage: PlanWorker['stage'] = 'LISTENING', extra: Partial<PlanWorker> = {}): PlanWorker =>
  ({ id, generation, stage, spawnedAt: id, ...extra });

describe('plan: converging on the target fleet', () => {
  test('at start, every missing worker is spawned at once', () => {
    expect(plan({ workers: [], target: 4, staleBefore: 0, maySpawn: true })).toEqual({ spawn: 4, drain: [] });
  });

  test('a crashed worker is refilled at once, unless a backoff is pending', () => {
    const fleet = [w(0, 1)];
    expect(plan({ workers: fleet, target: 2, staleBefore: 0, maySpawn: true }).spawn).toBe(1);
    expect(plan({ workers: fleet, target: 2, staleBefore: 0, maySpawn: false }).spawn).toBe(0);
  });

  test('a reload starts one surge worker while the stale ones keep serving', () => {
    const fleet = [w(0, 1), w(1, 1)];
    expect(plan({ workers: fleet, target: 2, staleBefore: 2, maySpawn: true })).toEqual({ spawn: 1, drain: [] });
  });

  test('no second surge worker while one is still booting', () => {
    const fleet = [w(0, 1), w(1, 1), w(2, 2, 'SPAWNED')];
    expect(plan({ workers: fleet, target: 2, staleBefore: 2, maySpawn: true })).toEqual({ spawn: 0, drain: [] });
  });

  test('once the surge worker listens, the oldest stale worker is drained and the next surge starts', () => {
    const fleet = [w(0, 1), w(1, 1), w(2, 2)];
    expect(plan({ workers: fleet, target: 2, staleBefore: 2, maySpawn: true })).toEqual({ spawn: 1, drain: [{ id: 0, reason: 'reload' }] });
  });

  test('draining the last stale worker does not start a needless extra worker', () => {
    const fleet = [w(0, 1, 'DRAINING'), w(1, 1), w(2, 2), w(3, 2)];
    expect(plan({ workers: fleet, target: 2, staleBefore: 2, maySpawn: true })).toEqual({ spawn: 0, drain: [{ id: 1, reason: 'reload' }] });
  });

  test('capacity never drops: a stale worker is never drained while only target workers listen', () => {
    const fleet = [w(0, 1), w(1, 2, 'SPAWNED')];
    expect(plan({ workers: fleet, target: 1, staleBefore: 2, maySpawn: true }).drain).toEqual([]);
  });

  test('recycling replaces one due worker at a time, stale workers first', () => {
    const fleet = [w(0, 2, 'LISTENING', { recycleDue: 'age' }), w(1, 1), w(2, 2)];
    expect(plan({ workers: fleet, target: 2, staleBefore: 2, maySpawn: true }).drain).toEqual([{ id: 1, reason: 'reload' }]);
    const due = [w(0, 1, 'LISTENING', { recycleDue: 'age' }), w(1, 1, 'LISTENING', { recycleDue: 'connections' })];
    expect(plan({ workers: due, target: 2, staleBefore: 0, maySpawn: true })).toEqual({ spawn: 1, drain: [] });
  });
});

describe('crash backoff', () => {
  test('the first failure respawns at once, then 100 ms doubling, capped', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n))).toEqual([0, 100, 200, 400, 800]);
    expect(backoffMs(30)).toBe(30_000);
  });
});
