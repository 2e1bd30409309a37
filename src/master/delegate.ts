/**
 * The master's side of delegation (cluster2 0.4): workers hand it jobs that should be done once
 * for everyone — read a config, log remotely — and it routes each to a registered handler.
 *
 * Two request shapes arrive, both answered by the same handlers:
 *  - typed (worker/delegate.ts): `sockrun:delegate` with an id; the answer goes back by id, and
 *    `notify(kind, value)` later reaches every worker that subscribed;
 *  - cluster2's own: `{type: 'delegate', delegate, expect?, matches?, timeout?, notification?}`.
 *    The answer is sent as `{...answer, type: expect}`. When no `handle()` handler is registered
 *    for the kind, the request is emitted as an event named after it on `events` (the Cluster),
 *    and the first `events.emit(expect, answer)` whose `matches` fields equal the request's is
 *    the answer — exactly how cluster2 handlers (config readers, loggers) were written.
 *
 * The router does not know processes: a Peer is anything with a pid that can be sent messages,
 * so the same code serves a worker over IPC and the single-process Cluster in memory.
 */
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import {
  Cluster2DelegateReply, Cluster2DelegateRequest, DelegateErrorCode, DelegateRequest, MasterMessage,
  isCluster2DelegateRequest, isWorkerMessage,
} from '../protocol';
import type { WorkerHandle } from './worker-handle';

/** cluster2's default for a delegated job: 10 s. */
const DEFAULT_TIMEOUT_MS = 10_000;

/** One requester: a worker process, or the single-process app itself. */
export interface Peer {
  pid: number;
  /** The worker slot (0, 1, …) when it is a sockrun worker. */
  id?: number;
  send(message: MasterMessage | Cluster2DelegateReply): void;
}

/** What a handler learns about the request besides its payload. */
export interface DelegateContext {
  kind: string;
  /** The worker that asked. */
  worker: { pid: number; id?: number };
  /** Aborted when the answer is no longer wanted: the request timed out or its worker exited. */
  signal: AbortSignal;
  /** The request as it arrived (cluster2's shape carries the payload in its own fields). */
  message: DelegateRequest | Cluster2DelegateRequest;
}

/**
 * Answers one kind of job. For a typed request `payload` is what the worker passed; for a
 * cluster2-shaped one it is the whole message. The returned value (or promise) is the answer;
 * a throw or rejection reaches the worker as SOCKRUN_ERR_DELEGATE_FAILED with its message.
 */
export type DelegateHandler<P = unknown, R = unknown> = (payload: P, ctx: DelegateContext) => R | Promise<R>;

interface PendingRequest {
  peer: Peer;
  kind: string;
  abort: AbortController;
  timer: NodeJS.Timeout;
  settle(outcome: { ok: true; value: unknown } | { ok: false; code: DelegateErrorCode; message: string }): void;
}

interface Subscription {
  peer: Peer;
  /** Typed: the request id the worker listens on. cluster2: the `type` its answers carry. */
  typedId?: number;
  expect?: string;
}

export interface DelegateRouterOptions {
  /** Where cluster2-style handlers listen (`events.on(kind)`) and answer (`events.emit(expect)`). */
  events?: EventEmitter;
  log?: Pick<Logger, 'warn' | 'debug'>;
}

export class DelegateRouter {
  private readonly handlers = new Map<string, DelegateHandler>();
  private readonly pending = new Set<PendingRequest>();
  /** kind → pid → subscription. One per worker and kind: asking again replaces it. */
  private readonly subscriptions = new Map<string, Map<number, Subscription>>();
  /** cluster2 `expect` names whose later `events.emit(expect, …)` are pushed to subscribers. */
  private readonly watchedExpects = new Set<string>();

  constructor(private readonly options: DelegateRouterOptions = {}) {}

  /**
   * Registers the handler for `kind` (one per kind: a second registration is an error, so two
   * modules never silently race to answer). Returns a function that unregisters it.
   */
  handle<P = unknown, R = unknown>(kind: string, handler: DelegateHandler<P, R>): () => void {
    if (this.handlers.has(kind)) throw new Error(`sockrun: a delegate handler for "${kind}" is already registered`);
    this.handlers.set(kind, handler as DelegateHandler);
    return () => {
      if (this.handlers.get(kind) === handler) this.handlers.delete(kind);
    };
  }

  /**
   * Publishes a later value of `kind` to every worker that subscribed (typed `onNotification`,
   * or cluster2 `notification: true`). Returns how many workers it was sent to.
   */
  notify(kind: string, value: unknown): number {
    const subs = [...(this.subscriptions.get(kind)?.values() ?? [])];
    for (const s of subs) this.push(s, kind, value);
    return subs.length;
  }

  /** Requests still waiting for an answer (for tests and status). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Handles `message` if it is a delegation (either shape) and returns true; anything else is
   * left alone (false).
   */
  receive(peer: Peer, message: unknown): boolean {
    if (isWorkerMessage(message) && message.type === 'sockrun:delegate') {
      this.receiveTyped(peer, message);
      return true;
    }
    if (isCluster2DelegateRequest(message)) {
      this.receiveCluster2(peer, message);
      return true;
    }
    return false;
  }

  /** The peer is gone: its pending requests are abandoned (handlers see `signal` abort), its subscriptions dropped. */
  dropPeer(pid: number): void {
    for (const p of [...this.pending]) {
      if (p.peer.pid !== pid) continue;
      this.pending.delete(p);
      clearTimeout(p.timer);
      p.abort.abort(new Error(`worker ${pid} exited`));
      this.options.log?.debug({ workerPid: pid, delegate: p.kind }, 'delegate request abandoned: its worker exited');
    }
    for (const subs of this.subscriptions.values()) subs.delete(pid);
  }

  /**
   * Listens to a Master: worker messages in, exits drop their requests. Returns a function that
   * detaches.
   */
  attach(master: EventEmitter): () => void {
    routed.add(master);
    const onMessage = (w: WorkerHandle, m: unknown) => this.receive(peerOf(w), m);
    const onExit = (w: WorkerHandle) => this.dropPeer(w.pid);
    master.on('message', onMessage);
    master.on('exit', onExit);
    return () => {
      routed.delete(master);
      master.removeListener('message', onMessage);
      master.removeListener('exit', onExit);
    };
  }

  private receiveTyped(peer: Peer, m: DelegateRequest): void {
    const handler = this.handlers.get(m.delegate);
    if (!m.reply) {
      if (!handler) return this.options.log?.warn({ delegate: m.delegate, workerPid: peer.pid }, `no handler for delegate "${m.delegate}"; message dropped`);
      void this.run(handler, m.payload, peer, m, new AbortController()).catch((err: unknown) => {
        this.options.log?.warn({ delegate: m.delegate, err }, 'delegate handler failed');
      });
      return;
    }
    this.track(peer, m.delegate, m.timeoutMs, (outcome) => {
      peer.send(outcome.ok
        ? { type: 'sockrun:delegate-reply', id: m.id, ok: true, value: outcome.value }
        : { type: 'sockrun:delegate-reply', id: m.id, ok: false, error: { code: outcome.code, message: outcome.message } });
      if (m.notification) this.subscribe(m.delegate, { peer, typedId: m.id });
    }, (abort, answer, fail) => {
      if (!handler) return fail('SOCKRUN_ERR_DELEGATE_NO_HANDLER', noHandler(m.delegate));
      this.run(handler, m.payload, peer, m, abort).then(answer, (err: unknown) => fail('SOCKRUN_ERR_DELEGATE_FAILED', messageOf(err)));
    });
  }

  private receiveCluster2(peer: Peer, m: Cluster2DelegateRequest): void {
    const kind = m.delegate;
    const handler = this.handlers.get(kind);
    const events = this.options.events;
    const listened = events !== undefined && events.listenerCount(kind) > 0;
    if (!m.expect) {
      if (handler) {
        void this.run(handler, m, peer, m, new AbortController()).catch((err: unknown) => {
          this.options.log?.warn({ delegate: kind, err }, 'delegate handler failed');
        });
      } else if (listened) {
        events.emit(kind, m, { pid: peer.pid, id: peer.id });
      } else {
        this.options.log?.warn({ delegate: kind, workerPid: peer.pid }, `no handler for delegate "${kind}"; message dropped`);
      }
      return;
    }
    const expect = m.expect;
    const matches = Array.isArray(m.matches) ? m.matches : [];
    this.track(peer, kind, m.timeout ?? m.timeOut, (outcome) => {
      peer.send(outcome.ok
        ? { ...fieldsOf(outcome.value), ...pick(m, matches), type: expect }
        : { ...m, type: expect, error: outcome.code === 'SOCKRUN_ERR_DELEGATE_TIMEOUT' ? 'timeout' : outcome.message, errorCode: outcome.code });
      if (m.notification) this.subscribe(kind, { peer, expect });
    }, (abort, answer, fail) => {
      if (handler) {
        this.run(handler, m, peer, m, abort).then(answer, (err: unknown) => fail('SOCKRUN_ERR_DELEGATE_FAILED', messageOf(err)));
        return;
      }
      if (!listened) return fail('SOCKRUN_ERR_DELEGATE_NO_HANDLER', noHandler(kind));
      // cluster2: the answer is the first `expect` event whose `matches` fields equal ours.
      const onExpect = (response: unknown) => {
        if (!matches.every((f) => isDeepStrictEqual((response as Record<string, unknown>)?.[f], m[f]))) return;
        events.removeListener(expect, onExpect);
        answer(response);
      };
      events.on(expect, onExpect);
      abort.signal.addEventListener('abort', () => events.removeListener(expect, onExpect), { once: true });
      events.emit(kind, m, { pid: peer.pid, id: peer.id });
    });
  }

  /**
   * One request that wants an answer: exactly one outcome is delivered (answer, failure or
   * timeout), never after its worker exited.
   */
  private track(
    peer: Peer,
    kind: string,
    timeoutMs: number | undefined,
    deliver: PendingRequest['settle'],
    start: (abort: AbortController, answer: (value: unknown) => void, fail: (code: DelegateErrorCode, message: string) => void) => void,
  ): void {
    const ms = typeof timeoutMs === 'number' && timeoutMs > 0 ? timeoutMs : DEFAULT_TIMEOUT_MS;
    const abort = new AbortController();
    const request: PendingRequest = {
      peer,
      kind,
      abort,
      timer: setTimeout(() => {
        request.settle({ ok: false, code: 'SOCKRUN_ERR_DELEGATE_TIMEOUT', message: `delegate "${kind}": no answer within ${ms} ms` });
        abort.abort(new Error('timeout'));
      }, ms).unref(),
      settle: (outcome) => {
        if (!this.pending.delete(request)) return; // already settled, timed out, or its worker is gone
        clearTimeout(request.timer);
        deliver(outcome);
      },
    };
    this.pending.add(request);
    start(abort, (value) => request.settle({ ok: true, value }), (code, message) => request.settle({ ok: false, code, message }));
  }

  private async run(handler: DelegateHandler, payload: unknown, peer: Peer, message: DelegateContext['message'], abort: AbortController): Promise<unknown> {
    return handler(payload, { kind: message.delegate, worker: { pid: peer.pid, id: peer.id }, signal: abort.signal, message });
  }

  private subscribe(kind: string, sub: Subscription): void {
    let subs = this.subscriptions.get(kind);
    if (!subs) this.subscriptions.set(kind, (subs = new Map()));
    subs.set(sub.peer.pid, sub);
    const events = this.options.events;
    if (sub.expect === undefined || !events || this.watchedExpects.has(sub.expect)) return;
    // cluster2: once someone subscribed, every later `expect` event is a change to publish.
    // Prepended, so it runs before the listeners of requests still pending: a worker answered
    // by this very event is not also sent it as a notification.
    const expect = sub.expect;
    this.watchedExpects.add(expect);
    events.prependListener(expect, (value: unknown) => {
      for (const s of this.subscriptions.get(kind)?.values() ?? []) if (s.expect === expect) this.push(s, kind, value);
    });
  }

  private push(s: Subscription, kind: string, value: unknown): void {
    if (s.typedId !== undefined) s.peer.send({ type: 'sockrun:delegate-notify', id: s.typedId, delegate: kind, value });
    else s.peer.send({ ...fieldsOf(value), type: s.expect! });
  }
}

/** Masters a router is attached to (the Cluster's, registered before any attachment runs). */
const routed = new WeakSet<EventEmitter>();

/**
 * For masters with no app code — the `sockrun` CLI, which attaches it at the first request
 * (cli/attachments.ts) — where no handler can exist: a request that wants an answer fails at
 * once with SOCKRUN_ERR_DELEGATE_NO_HANDLER instead of waiting for its timeout. `first` arrived
 * before the router, which routes it too. A no-op when a router is already attached (a Cluster
 * master, whose handlers answer).
 */
export function attachDelegationFor(master: EventEmitter, w: WorkerHandle, first: unknown, log?: Pick<Logger, 'warn' | 'debug'>): { close(): void } {
  if (routed.has(master)) return { close: () => undefined };
  const router = new DelegateRouter({ log });
  const close = router.attach(master);
  router.receive(peerOf(w), first);
  return { close };
}

/** The master's handle of a worker as a Peer. */
export function peerOf(w: WorkerHandle): Peer {
  return {
    pid: w.pid,
    id: w.id,
    send(message) {
      // cluster2-shaped answers have a free-form `type`, which WorkerHandle.send (sockrun's own
      // protocol) does not take; they travel on the same IPC channel.
      if (!w.child.connected) return;
      w.child.send(message, undefined, {}, () => {});
    },
  };
}

function noHandler(kind: string): string {
  return `delegate "${kind}": no handler in the master (register one with cluster.handle("${kind}", fn))`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An answer as message fields: objects are spread, anything else travels as `value`. */
function fieldsOf(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : { value };
}

function pick(m: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (f in m) out[f] = m[f];
  return out;
}
