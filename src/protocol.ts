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

/**
 * An address an app's server listens on that is not an inherited socket (`listen(9100,
 * '127.0.0.1')`, a unix path, another port): the master binds it on demand and hands it to every
 * worker that asks (worker/listen-map.ts says when). No host: all interfaces.
 */
export type SharedAddress = { kind: 'tcp'; host?: string; port: number } | { kind: 'unix'; path: string };

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
  /** An uncaught exception (the app's error, for the log and the reload verdict). */
  | { type: 'sockrun:boot-error'; message: string; stack?: string }
  /** The app closed the last server on an inherited socket outside a drain: it serves nothing. */
  | { type: 'sockrun:not-serving' }
  | { type: 'sockrun:drained' }
  /** The answer to `sockrun:self-check`. */
  | { type: 'sockrun:self-check-result'; id: number; ok: boolean; message: string }
  /** Asks for (`open`) or gives back (`close`) the shared socket of an app server's own address (sockets/shared.ts). */
  | { type: 'sockrun:share'; op: 'open' | 'close'; id: number; address: SharedAddress }
  | MetricsPush
  | DelegateRequest;

export type MasterMessage =
  | { type: 'sockrun:drain' }
  /** GET `path` from your own first server, in-process (worker/self-check.ts); answer with `sockrun:self-check-result`. */
  | { type: 'sockrun:self-check'; id: number; path: string; timeoutMs: number }
  /** Push a full snapshot of the app's metrics now (a new worker, or the master lost track). */
  | { type: 'sockrun:collect-metrics' }
  /** The instance's ECV verdict (ready and enabled) for GET /ecv on the app port; `since`: master start, ms. */
  | { type: 'sockrun:ecv'; available: boolean; since: number }
  /** The answer to `sockrun:share` open: the socket travels as the message's handle, or `error` says why (an errno name). */
  | { type: 'sockrun:shared'; id: number; error?: { code: string; message: string } }
  | DelegateReply
  | DelegateNotification;

/**
 * Worker → master: the app's own prom-client metrics (`getMetricsAsJSON()` families, [] without
 * prom-client), pushed every SOCKRUN_METRICS_INTERVAL_MS and whenever the master asks
 * (worker/metrics.ts → metrics/pushes.ts). `seq` counts the worker's pushes from 1. A `full`
 * push replaces all the master holds for this worker; any other carries only the families whose
 * values changed since push `seq - 1` and the names of those that went away. `final`: the last
 * one, sent on a drain once the servers closed. `error`: this collection failed, nothing changed.
 */
export interface MetricsPush {
  type: 'sockrun:metrics-push';
  seq: number;
  full: boolean;
  families: unknown[];
  removed: string[];
  final?: boolean;
  error?: string;
}

/*
 * Delegation (cluster2 0.4's "delegate" pattern, typed): a worker asks the master to do a job
 * once for everyone (read a config, log remotely); the master answers the worker that asked and,
 * when it subscribed, pushes later changes to it. worker/delegate.ts and master/delegate.ts.
 */

/** Stable codes of a failed delegation, carried on the wire and by DelegateError. */
export type DelegateErrorCode =
  /** No answer within the request's timeout. */
  | 'SOCKRUN_ERR_DELEGATE_TIMEOUT'
  /** The master has no handler for this kind. */
  | 'SOCKRUN_ERR_DELEGATE_NO_HANDLER'
  /** The master's handler threw or rejected; the message is its error's. */
  | 'SOCKRUN_ERR_DELEGATE_FAILED'
  /** The master went away (IPC channel closed) before answering. */
  | 'SOCKRUN_ERR_DELEGATE_MASTER_GONE'
  /** delegate() was called in a process with no sockrun master to ask. */
  | 'SOCKRUN_ERR_DELEGATE_NO_MASTER';

/** Worker → master: a typed request (`delegate()`, or `tell()` when `reply` is false). */
export interface DelegateRequest {
  type: 'sockrun:delegate';
  /** Unique within the worker; the reply and notifications carry it back. */
  id: number;
  /** The kind of job: the name a master handler is registered under. */
  delegate: string;
  payload?: unknown;
  reply: boolean;
  timeoutMs?: number;
  /** Subscribe to later values the master publishes for this kind. */
  notification?: boolean;
}

/** Master → the worker that asked. */
export type DelegateReply =
  | { type: 'sockrun:delegate-reply'; id: number; ok: true; value: unknown }
  | { type: 'sockrun:delegate-reply'; id: number; ok: false; error: { code: DelegateErrorCode; message: string } };

/** Master → every worker that subscribed to `delegate`: a later value. `id` is the request's. */
export interface DelegateNotification {
  type: 'sockrun:delegate-notify';
  id: number;
  delegate: string;
  value: unknown;
}

/**
 * Worker → master in cluster2's own shape, kept working unchanged:
 * `process.send({type: 'delegate', delegate: 'read-config', expect: 'config-read', matches: ['name'], name: 'db'})`.
 */
export interface Cluster2DelegateRequest {
  type: 'delegate';
  delegate: string;
  /** The `type` of the answer the worker waits for; absent = fire and forget. */
  expect?: string;
  /** Fields that must be equal in the request and the answer for the answer to count. */
  matches?: string[];
  /** Milliseconds (cluster2 read `timeOut`; both are accepted). Default 10 s. */
  timeout?: number;
  timeOut?: number;
  /** Also send the worker later answers of type `expect`. */
  notification?: boolean;
  origin?: unknown;
  [field: string]: unknown;
}

/**
 * Master → worker in cluster2's shape: the answer's fields with `type` set to the request's
 * `expect`. A failure carries `error` (a message) and `errorCode` on a copy of the request.
 */
export interface Cluster2DelegateReply {
  type: string;
  error?: string;
  errorCode?: DelegateErrorCode;
  [field: string]: unknown;
}

export function isCluster2DelegateRequest(m: unknown): m is Cluster2DelegateRequest {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'delegate'
    && typeof (m as { delegate?: unknown }).delegate === 'string';
}

/** Environment variables the master sets for each worker. */
export const WorkerEnv = {
  SOCKETS: 'SOCKRUN_SOCKETS',
  WORKER_ID: 'SOCKRUN_WORKER_ID',
  GENERATION: 'SOCKRUN_GENERATION',
  PING_INTERVAL_MS: 'SOCKRUN_PING_INTERVAL_MS',
  IDLE_TIMEOUT_MS: 'SOCKRUN_IDLE_TIMEOUT_MS',
  /** --graceful-timeout: a draining worker ends the WebSockets left open just before it. */
  GRACEFUL_TIMEOUT_MS: 'SOCKRUN_GRACEFUL_TIMEOUT_MS',
  ECV_ON_APP_PORT: 'SOCKRUN_ECV_ON_APP_PORT',
  /**
   * Set by the worker runtime for the worker's own threads (worker/thread-listen.ts): the
   * worker's pid and its sockets, JSON. Children the app spawns inherit it and ignore it: the
   * pid is not theirs (sd_listen_fds' LISTEN_PID semantics).
   */
  THREAD_LISTEN: 'SOCKRUN_THREAD_LISTEN',
  /** How often to push the app's metrics (ms); unset or 0 = only when the master asks. */
  METRICS_INTERVAL_MS: 'SOCKRUN_METRICS_INTERVAL_MS',
} as const;

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string'
    && (m as { type: string }).type.startsWith('sockrun:');
}

export function isMasterMessage(m: unknown): m is MasterMessage {
  return isWorkerMessage(m);
}
