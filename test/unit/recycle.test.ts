import { jitterLimits, recycleReason } from '../../src/master/recycle';
import type { WorkerStats } from '../../src/protocol';

const stats = (s: Partial<WorkerStats>): WorkerStats => ({ connectionsActive: 0, connectionsTotal: 0, requestsTotal: 0, rssBytes: 0, heapUsedBytes: 0, eventLoopLagMs: 0, ...s });
const off = { connections: 0, requests: 0, memoryBytes: 0, ageMs: 0, jitterMs: 0 };

describe('recycling decisions', () => {
  test('limits of 0 are off', () => {
    expect(recycleReason(stats({ connectionsTotal: 1e9, rssBytes: 1e12 }), 1e9, off)).toBeUndefined();
  });

  test('each limit names its reason', () => {
    expect(recycleReason(stats({ connectionsTotal: 100 }), 0, { ...off, connections: 100 })).toBe('connections');
    expect(recycleReason(stats({ requestsTotal: 5 }), 0, { ...off, requests: 5 })).toBe('requests');
    expect(recycleReason(stats({ rssBytes: 600e6 }), 0, { ...off, memoryBytes: 512e6 })).toBe('memory');
    expect(recycleReason(undefined, 60_000, { ...off, ageMs: 60_000 })).toBe('age');
    expect(recycleReason(stats({ connectionsTotal: 99 }), 0, { ...off, connections: 100 })).toBeUndefined();
  });

  test('jitter raises limits by up to 10 % (age: up to --recycle-jitter) so workers spread out', () => {
    const limits = { connections: 1000, requests: 0, memoryBytes: 100, ageMs: 60_000, jitterMs: 5000 };
    expect(jitterLimits(limits, () => 0)).toEqual(limits);
    expect(jitterLimits(limits, () => 1)).toEqual({ connections: 1100, requests: 0, memoryBytes: 110, ageMs: 65_000, jitterMs: 5000 });
    const draws = new Set(Array.from({ length: 20 }, () => jitterLimits(limits).connections));
    expect(draws.size).toBeGreaterThan(1);
  });
});
