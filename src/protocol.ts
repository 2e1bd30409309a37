/**
 * The IPC protocol between the master and its workers: the only thing `master/` and `worker/`
 * share. Messages travel over the Node IPC channel that the master opens at spawn.
 */

/** One inherited socket as the worker sees it (passed in SOCKRUN_SOCKETS, JSON). */
export interface SocketInfo {
  /** Descriptor in the worker: 3, 4, … in the order given (systemd layout). */
  fd: number;
  /** systemd FileDescriptorName, `--fd N:name`, `--listen name=…`, else `unknown`. */
  name: string;
  kind: 'tcp' | 'unix';
  /** Local port for TCP sockets, used to map an app's `listen(port)` to a socket. */
  port?: number;
  host?: string;
  /** Socket path for unix sockets. */
  path?: string;
}

/** Counters and gauges a worker reports in every ping. Counters are totals since the worker started. */
export interface WorkerStats {
  connectionsActive: number;
  connectionsTotal: number;
  requestsTotal: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Mean event-loop delay over the last ping interval, in milliseconds. */
  eventLoopLagMs: number;
}

export type WorkerMessage =
  | { type: 'sockrun:listening'; fd: number; allListening: boolean }
  | { type: 'sockrun:ping'; stats: WorkerStats }
  | { type: 'sockrun:boot-error'; message: string; stack?: string }
  | { type: 'sockrun:drained' }
  | { type: 'sockrun:metrics'; id: number; metrics: unknown[] | null; error?: string };

export type MasterMessage =
  | { type: 'sockrun:drain' }
  | { type: 'sockrun:collect-metrics'; id: number };

/** Environment variables the master sets for each worker. */
export const WorkerEnv = {
  SOCKETS: 'SOCKRUN_SOCKETS',
  WORKER_ID: 'SOCKRUN_WORKER_ID',
  GENERATION: 'SOCKRUN_GENERATION',
  PING_INTERVAL_MS: 'SOCKRUN_PING_INTERVAL_MS',
  IDLE_TIMEOUT_MS: 'SOCKRUN_IDLE_TIMEOUT_MS',
  ECV_ON_APP_PORT: 'SOCKRUN_ECV_ON_APP_PORT',
} as const;

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string'
    && (m as { type: string }).type.startsWith('sockrun:');
}

export function isMasterMessage(m: unknown): m is MasterMessage {
  return isWorkerMessage(m);
}
