/** The master's settings, events and answers: what run.ts, the control socket and observers share. */
import type { Logger } from 'pino';
import type { NodeArgs } from '../config/node-args';
import type { Configuration } from '../config/resolve';
import type { WorkerMessage } from '../protocol';
import type { HeldSocket } from '../sockets/hold';
import type { LogicalPaths, Release } from './release';
import type { WorkerHandle } from './worker-handle';

/** The master's settings: resolved configuration, plus what run.ts worked out (sockets, worker count). */
export type MasterOptions = Pick<Configuration,
  'appArgs' | 'bootTimeoutMs' | 'settleMs' | 'drainDelayMs' | 'gracefulTimeoutMs' | 'hangTimeoutMs' | 'pingIntervalMs' | 'idleTimeoutMs' | 'recycle'> & {
  /** The app and the directory to run it in, as the user gave them (resolved at every reload). */
  paths: LogicalPaths;
  /** The first generation's release, resolved and checked by the caller. */
  release: Release;
  workers: number;
  /** New workers booting at once during a reload (≥ 1; `workers` for blue/green). */
  reloadSurge: number;
  sockets: HeldSocket[];
  /** Node flags for workers (--node-args; NODE_OPTIONS' inspector). */
  nodeArgs?: NodeArgs;
  /** Extra environment for workers (e.g. SOCKRUN_ECV_ON_APP_PORT). */
  workerEnv?: NodeJS.ProcessEnv;
  log: Logger;
  /**
   * Set when the caller caught SIGHUP/SIGTERM/SIGINT/SIGQUIT itself (cli/early-signals.ts): start()
   * hands it the function that enqueues them instead of installing handlers.
   */
  routeSignals?: (enqueue: (signal: NodeJS.Signals) => void) => void;
};

export type MasterEvent =
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'control'; command: 'reload' | 'shutdown' | 'stop'; reply?: (r: ControlResult) => void }
  | { kind: 'worker-message'; worker: WorkerHandle; message: WorkerMessage }
  | { kind: 'worker-exit'; worker: WorkerHandle; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'drain-delay-over' }
  | { kind: 'gate'; worker: WorkerHandle; ok: boolean; message: string }
  | { kind: 'tick' };

export interface ControlResult {
  ok: boolean;
  message: string;
  generation?: number;
  durationMs?: number;
  /** Refused in this state (reload while STARTING or DRAINING): nothing changed, try again later. */
  notNow?: boolean;
}
