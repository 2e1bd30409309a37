/** cluster2's `heartbeat` event from the workers' pings (src/cluster2/heartbeat.ts). */
import { EventEmitter } from 'node:events';
import { Heartbeat, emitHeartbeats } from '../../src/cluster2/heartbeat';
import type { Master } from '../../src/master/master';
import type { WorkerHandle } from '../../src/master/worker-handle';
import type { WorkerStats } from '../../src/protocol';

const T0 = 1_700_000_000_000;

function fakeMaster(pingIntervalMs: number): Master {
  return Object.assign(new EventEmitter(), { options: { pingIntervalMs } }) as unknown as Master;
}

function worker(pid: number, stats: Partial<WorkerStats> = {}): WorkerHandle {
  return {
    pid, id: pid % 10, generation: 1, spawnedAt: T0,
    stats: { connectionsActive: 2, connectionsTotal: 7, requestsTotal: 9, rssBytes: 50e6, heapUsedBytes: 20e6, eventLoopLagMs: 1.5, ...stats },
  } as unknown as WorkerHandle;
}

/** Pings `workers` every `everyMs` for `forMs`; returns the beats emitted. */
function run(master: Master, workers: WorkerHandle[], everyMs: number, forMs: number): Heartbeat[] {
  const beats: Heartbeat[] = [];
  master.on('beat', (b: Heartbeat) => beats.push(b));
  for (let t = 0; t <= forMs; t += everyMs) {
    // Pings drift by a few ms around the interval.
    jest.setSystemTime(T0 + t + (t % 3));
    for (const w of workers) master.emit('ping', w);
  }
  return beats;
}

beforeEach(() => jest.useFakeTimers({ now: T0 }));
afterEach(() => jest.useRealTimers());

describe('heartbeat events', () => {
  test('without heartbeatInterval: one per worker per minute, as cluster2 emitted them, though pings come every second', () => {
    const master = fakeMaster(1000);
    emitHeartbeats(master, 60_000, (b) => master.emit('beat', b));
    const beats = run(master, [worker(101), worker(102)], 1000, 5 * 60_000);
    // t = 0, 1, 2, 3, 4, 5 minutes, for each worker.
    expect(beats.filter((b) => b.pid === 101)).toHaveLength(6);
    expect(beats.filter((b) => b.pid === 102)).toHaveLength(6);
  });

  test('with heartbeatInterval (the ping interval): one per ping', () => {
    const master = fakeMaster(100);
    emitHeartbeats(master, 0, (b) => master.emit('beat', b));
    expect(run(master, [worker(101)], 100, 1000)).toHaveLength(11);
  });

  test('carries the worker\'s own stats under cluster2\'s names, and all of sockrun\'s', () => {
    const master = fakeMaster(1000);
    emitHeartbeats(master, 0, (b) => master.emit('beat', b));
    const [beat] = run(master, [{ ...worker(101), spawnedAt: T0 - 2500 } as WorkerHandle], 1000, 0);
    expect(beat).toEqual({
      pid: 101, id: 1, generation: 1, uptime: 2.5, memory: 50e6, aliveConnections: 2, pendingConnections: 2, totalConnections: 7,
      stats: { connectionsActive: 2, connectionsTotal: 7, requestsTotal: 9, rssBytes: 50e6, heapUsedBytes: 20e6, eventLoopLagMs: 1.5 },
    });
  });

  test('a worker that has not pinged yet has no heartbeat; a new worker\'s first ping always counts', () => {
    const master = fakeMaster(1000);
    emitHeartbeats(master, 60_000, (b) => master.emit('beat', b));
    const beats: Heartbeat[] = [];
    master.on('beat', (b: Heartbeat) => beats.push(b));
    master.emit('ping', { ...worker(101), stats: undefined });
    master.emit('ping', worker(101));
    jest.setSystemTime(T0 + 1000);
    master.emit('ping', worker(102));
    master.emit('ping', worker(101));
    expect(beats.map((b) => b.pid)).toEqual([101, 102]);
  });
});
