/**
 * The worker's side of delegation (cluster2 0.4's pattern, typed): hand a job to the master,
 * which does it once for every worker, and await its answer.
 *
 *   const { delegate } = require('sockrun');
 *   const db = await delegate('read-config', { name: 'db' }, {
 *     timeout: 2000,
 *     onNotification: (next) => reconnect(next),   // later changes the master publishes
 *   });
 *
 * Every request either resolves with the master's answer or rejects with a DelegateError whose
 * `code` says why: TIMEOUT, NO_HANDLER, FAILED, MASTER_GONE, NO_MASTER. The master's side is
 * master/delegate.ts; the two share only protocol.ts.
 */
import { DelegateErrorCode, DelegateRequest, MasterMessage } from '../protocol';
import { inheritedSockets, onMasterMessage, sendToMaster } from './runtime';

/** cluster2's default: a delegated job that has not answered in 10 s failed. */
export const DEFAULT_DELEGATE_TIMEOUT_MS = 10_000;

/** Why a delegation failed; `code` is stable (see protocol.ts, DelegateErrorCode). */
export class DelegateError extends Error {
  constructor(readonly code: DelegateErrorCode, message: string, readonly kind: string) {
    super(message);
    this.name = 'DelegateError';
  }
}

export interface DelegateOptions<R> {
  /** Milliseconds to wait for the answer (default 10 s); the promise rejects with SOCKRUN_ERR_DELEGATE_TIMEOUT after. */
  timeout?: number;
  /** Subscribe: called with every later value the master publishes for this kind (cluster2 `notification`). */
  onNotification?: (value: R) => void;
}

/**
 * Where requests go. In a worker: the IPC channel to the master. In a single-process Cluster
 * (`cluster: false`) the master's router lives in this very process and installs itself here.
 */
export interface DelegateTransport {
  send(request: DelegateRequest): void;
}

interface Pending {
  kind: string;
  resolve(value: unknown): void;
  reject(err: DelegateError): void;
  timer: NodeJS.Timeout;
}

const pending = new Map<number, Pending>();
const subscriptions = new Map<number, (value: unknown) => void>();
let nextId = 1;
let inProcess: DelegateTransport | undefined;
let listening = false;

/**
 * Asks the master to do `kind` with `payload`; resolves with the value its handler returned.
 * Rejects with a DelegateError (never hangs): at the timeout, when the master has no handler
 * for `kind`, when the handler failed, when the master goes away, or outside a sockrun worker.
 */
export function delegate<R = unknown, P = unknown>(kind: string, payload?: P, options: DelegateOptions<R> = {}): Promise<R> {
  const timeoutMs = options.timeout ?? DEFAULT_DELEGATE_TIMEOUT_MS;
  return new Promise<R>((resolve, reject) => {
    const transport = currentTransport();
    if (!transport) {
      reject(new DelegateError('SOCKRUN_ERR_DELEGATE_NO_MASTER',
        `delegate "${kind}": no sockrun master to ask (not a sockrun worker, and no single-process Cluster in this process)`, kind));
      return;
    }
    listen();
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new DelegateError('SOCKRUN_ERR_DELEGATE_TIMEOUT', `delegate "${kind}": no answer from the master within ${timeoutMs} ms`, kind));
    }, timeoutMs);
    // A pending request alone must not keep a worker alive (lightship: guard timers are unref'd).
    timer.unref();
    pending.set(id, { kind, resolve: resolve as (v: unknown) => void, reject, timer });
    if (options.onNotification) subscriptions.set(id, options.onNotification as (v: unknown) => void);
    transport.send({ type: 'sockrun:delegate', id, delegate: kind, payload, reply: true, timeoutMs, notification: options.onNotification !== undefined });
  });
}

/**
 * Fire and forget (cluster2: a delegate message without `expect`, e.g. remote logging): the
 * master's handler runs; nothing comes back. Returns false when there is no master to tell.
 */
export function tell<P = unknown>(kind: string, payload?: P): boolean {
  const transport = currentTransport();
  if (!transport) return false;
  transport.send({ type: 'sockrun:delegate', id: nextId++, delegate: kind, payload, reply: false });
  return true;
}

/**
 * Used by the single-process Cluster: route requests to a master in this process, and get back
 * the function that delivers its replies. Pass undefined to uninstall.
 */
export function useInProcessMaster(transport: DelegateTransport | undefined): (message: MasterMessage) => void {
  inProcess = transport;
  return receive;
}

function currentTransport(): DelegateTransport | undefined {
  if (inProcess) return inProcess;
  // Only a sockrun master listens on our IPC channel; any other parent (a test runner, a
  // process manager that forked us) must not receive our requests.
  if (inheritedSockets().length > 0 && process.send && process.connected) return { send: (request) => sendToMaster(request) };
  return undefined;
}

function listen(): void {
  if (listening || inProcess) return;
  listening = true;
  onMasterMessage(receive);
  // The master died (or closed the channel): nobody will answer what is pending.
  process.once('disconnect', () => {
    for (const [id, p] of pending) {
      pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new DelegateError('SOCKRUN_ERR_DELEGATE_MASTER_GONE', `delegate "${p.kind}": the master went away before answering`, p.kind));
    }
  });
}

function receive(m: MasterMessage): void {
  if (m.type === 'sockrun:delegate-notify') {
    const subscriber = subscriptions.get(m.id);
    if (!subscriber) return;
    try {
      subscriber(m.value);
    } catch (err) {
      // A subscriber's bug must not take down the IPC message loop.
      console.error(`sockrun: onNotification for delegate "${m.delegate}" threw:`, err);
    }
    return;
  }
  if (m.type !== 'sockrun:delegate-reply') return;
  const p = pending.get(m.id);
  if (!p) return; // answered after our own timeout: already rejected
  pending.delete(m.id);
  clearTimeout(p.timer);
  if (m.ok) p.resolve(m.value);
  else p.reject(new DelegateError(m.error.code, m.error.message, p.kind));
}
