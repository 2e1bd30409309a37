/**
 * The master's state as observers read it (`sockrun status`, probes, metrics, systemd STATUS=):
 * plain data, built from the worker handles on demand.
 */
import type { SocketInfo } from '../protocol';
import type { MasterState } from './lifecycle';
import type { Release } from './release';
import type { WorkerHandle } from './worker-handle';

export interface WorkerSnapshot {
  id: number;
  pid: number;
  generation: number;
  stage: string;
  uptimeMs: number;
  connectionsActive: number;
  connectionsTotal: number;
  requestsTotal: number;
  rssBytes: number;
  eventLoopLagMs: number;
}

/** A generation that has live workers: which release it runs (issue 12 §3). */
export interface GenerationSnapshot extends Release {
  generation: number;
}

export interface MasterSnapshot {
  pid: number;
  state: MasterState;
  /** The generation the fleet runs or is rolling out (after an aborted reload: the old one). */
  generation: number;
  uptimeMs: number;
  workersTarget: number;
  /** Booted workers of the current generation, not draining. */
  workersReady: number;
  workers: WorkerSnapshot[];
  /** The release (directory, app file) of every generation with live workers. */
  generations: GenerationSnapshot[];
  connectionsActive: number;
  /** Monotonic: exited workers' last counts are kept. */
  connectionsTotal: number;
  requestsTotal: number;
  sockets: SocketInfo[];
  /** The master's loop ran a tick within the last few intervals. */
  loopHealthy: boolean;
}

export interface SnapshotInputs {
  state: MasterState;
  generation: number;
  startedAt: number;
  lastTickAt: number;
  tickMs: number;
  target: number;
  live: WorkerHandle[];
  releases: ReadonlyMap<number, Release>;
  retired: { connections: number; requests: number };
  sockets: SocketInfo[];
}

export function buildSnapshot(i: SnapshotInputs, now = Date.now()): MasterSnapshot {
  const workers = i.live.map((w) => ({
    id: w.id,
    pid: w.pid,
    generation: w.generation,
    stage: w.stage,
    uptimeMs: now - w.spawnedAt,
    connectionsActive: w.stats?.connectionsActive ?? 0,
    connectionsTotal: w.stats?.connectionsTotal ?? 0,
    requestsTotal: w.stats?.requestsTotal ?? 0,
    rssBytes: w.stats?.rssBytes ?? 0,
    eventLoopLagMs: w.stats?.eventLoopLagMs ?? 0,
  }));
  const sum = (k: 'connectionsActive' | 'connectionsTotal' | 'requestsTotal') => workers.reduce((a, w) => a + w[k], 0);
  const gens = [...new Set([i.generation, ...workers.map((w) => w.generation)])].sort((a, b) => a - b);
  return {
    pid: process.pid,
    state: i.state,
    generation: i.generation,
    uptimeMs: now - i.startedAt,
    workersTarget: i.target,
    workersReady: i.live.filter((w) => w.stage === 'LISTENING' && w.generation === i.generation).length,
    workers,
    generations: gens.flatMap((g) => {
      const r = i.releases.get(g);
      return r ? [{ generation: g, ...r }] : [];
    }),
    connectionsActive: sum('connectionsActive'),
    connectionsTotal: i.retired.connections + sum('connectionsTotal'),
    requestsTotal: i.retired.requests + sum('requestsTotal'),
    sockets: i.sockets,
    loopHealthy: now - i.lastTickAt < i.tickMs * 8,
  };
}
