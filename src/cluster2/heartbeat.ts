/**
 * cluster2 0.4's `heartbeat` event, made from the stats every worker already pings to the master
 * (DESIGN §4): nothing is measured twice and no message is added to the protocol.
 *
 * cluster2 emitted one event per `heartbeatInterval` (default 60 s) in the master, summed over
 * the workers. sockrun emits one per worker, with that worker's own numbers under cluster2's
 * names (sum them for the fleet), at the same rate: on every ping when `heartbeatInterval` sets
 * the ping interval, else once a minute per worker (pings stay at 1 s for hang detection and
 * metrics; an app that logs each heartbeat must not log sixty times more than it did).
 */
import type { Master } from '../master/master';
import type { WorkerHandle } from '../master/worker-handle';
import type { WorkerStats } from '../protocol';

/** What a `heartbeat` event carries: one worker's last ping. */
export interface Heartbeat {
  /** The worker's pid (cluster2's aggregate carried the master's). */
  pid: number;
  /** The worker slot and generation, as in `died`. */
  id: number;
  generation: number;
  /** Seconds since the worker was spawned (cluster2: process.uptime()). */
  uptime: number;
  /** Resident set size in bytes (cluster2: `memory`, from the `usage` module). */
  memory: number;
  /** Open connections (cluster2: `aliveConnections` in a worker, `pendingConnections` in the master). */
  aliveConnections: number;
  pendingConnections: number;
  /** Connections accepted since the worker started. */
  totalConnections: number;
  /** Everything the ping carried, under sockrun's names (requests, heap, event-loop lag…). */
  stats: WorkerStats;
}

/**
 * Calls `emit` with a Heartbeat for each worker's ping, at most once per `everyMs` per worker
 * (0: every ping). The first ping of a worker always counts, so a new worker shows up at once.
 */
export function emitHeartbeats(master: Master, everyMs: number, emit: (beat: Heartbeat) => void): void {
  const last = new Map<number, number>();
  // Pings arrive every interval give or take a few ms: half an interval of slack keeps a 60 s
  // rate from slipping to 61 s.
  const slack = master.options.pingIntervalMs / 2;
  master.on('ping', (w: WorkerHandle) => {
    if (!w.stats) return;
    const now = Date.now();
    const before = last.get(w.pid);
    if (everyMs > 0 && before !== undefined && now - before < everyMs - slack) return;
    last.set(w.pid, now);
    emit({
      pid: w.pid,
      id: w.id,
      generation: w.generation,
      uptime: (now - w.spawnedAt) / 1000,
      memory: w.stats.rssBytes,
      aliveConnections: w.stats.connectionsActive,
      pendingConnections: w.stats.connectionsActive,
      totalConnections: w.stats.connectionsTotal,
      stats: { ...w.stats },
    });
  });
  master.on('exit', (w: WorkerHandle) => last.delete(w.pid));
}
