/**
 * The worker runtime in the process that holds the sockets itself: single-process mode
 * (`sockrun --workers 0`, cluster2's `cluster: false`). No spawn, so the app's servers take over
 * the held descriptors directly.
 */
import type { Configuration } from '../config/resolve';
import { ExitCode } from '../errors';
import { WorkerEnv } from '../protocol';
import { HeldSocket, socketInfo } from '../sockets/hold';
import { drain, installWorkerRuntime } from './runtime';

export function installInProcessRuntime(config: Pick<Configuration, 'idleTimeoutMs' | 'gracefulTimeoutMs' | 'ecvOnAppPort'>, sockets: HeldSocket[]): void {
  installWorkerRuntime({
    ...process.env,
    [WorkerEnv.SOCKETS]: JSON.stringify(sockets.map((s) => ({ ...socketInfo(s), fd: s.handle.fd }))),
    [WorkerEnv.IDLE_TIMEOUT_MS]: String(config.idleTimeoutMs),
    [WorkerEnv.GRACEFUL_TIMEOUT_MS]: String(config.gracefulTimeoutMs),
    ...(config.ecvOnAppPort ? { [WorkerEnv.ECV_ON_APP_PORT]: '1' } : {}),
  }, { handleSignals: false });
}

/**
 * The drain of a single process: keep serving for the drain delay, then drain (the runtime exits
 * 0 once every connection ended); `exit(DRAIN_FORCED)` if still busy at the graceful timeout.
 */
export function drainAfterDelay(config: Pick<Configuration, 'drainDelayMs' | 'gracefulTimeoutMs'>, reason: string, exit: (code: number) => void): void {
  setTimeout(() => {
    setTimeout(() => exit(ExitCode.DRAIN_FORCED), config.gracefulTimeoutMs).unref();
    void drain(reason);
  }, config.drainDelayMs).unref();
}
