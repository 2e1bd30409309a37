/**
 * The delegation router (master side) and delegate() (worker side) without processes: peers are
 * in-memory recorders, and the worker side talks to a router in this process, as it does in a
 * single-process Cluster.
 */
import { EventEmitter } from 'node:events';
import pino from 'pino';
import { DelegateRouter, Peer } from '../../src/master/delegate';
import { attachDelegation } from '../../src/cli/attachments';
import type { Master } from '../../src/master/master';
import type { Configuration } from '../../src/config/resolve';
import { DelegateError, delegate, tell, useInProcessMaster } from '../../src/worker/delegate';
import { Cluster2DelegateReply, MasterMessage, isMasterMessage } from '../../src/protocol';

type Sent = MasterMessage | Cluster2DelegateReply;

function peer(pid: number): Peer & { sent: Sent[]; next(): Promise<Sent> } {
  const sent: Sent[] = [];
  const waiting: ((m: Sent) => void)[] = [];
  return {
    pid,
    id: pid % 10,
    sent,
    send(m) {
      sent.push(m);
      waiting.shift()?.(m);
    },
    next() {
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('DelegateRouter: typed requests', () => {
  test('a registered handler answers the worker that asked, by id, with its payload and who asked', async () => {
    const router = new DelegateRouter();
    router.handle('read-config', (p: { name: string }, ctx) => ({ url: `db://${p.name}`, asker: ctx.worker.pid }));
    const w = peer(101);
    expect(router.receive(w, { type: 'sockrun:delegate', id: 7, delegate: 'read-config', payload: { name: 'db' }, reply: true })).toBe(true);
    expect(await w.next()).toEqual({ type: 'sockrun:delegate-reply', id: 7, ok: true, value: { url: 'db://db', asker: 101 } });
    expect(router.pendingCount).toBe(0);
  });

  test('no handler: SOCKRUN_ERR_DELEGATE_NO_HANDLER at once; a fire-and-forget one is dropped', async () => {
    const router = new DelegateRouter();
    const w = peer(1);
    router.receive(w, { type: 'sockrun:delegate', id: 1, delegate: 'nope', reply: true });
    expect(w.sent).toEqual([{ type: 'sockrun:delegate-reply', id: 1, ok: false, error: { code: 'SOCKRUN_ERR_DELEGATE_NO_HANDLER', message: expect.stringContaining('"nope"') } }]);
    router.receive(w, { type: 'sockrun:delegate', id: 2, delegate: 'nope', reply: false });
    await tick();
    expect(w.sent).toHaveLength(1);
  });

  test('a throwing or rejecting handler: SOCKRUN_ERR_DELEGATE_FAILED with its message', async () => {
    const router = new DelegateRouter();
    router.handle('sync', () => {
      throw new Error('boom');
    });
    router.handle('async', async () => Promise.reject(new Error('later boom')));
    const w = peer(1);
    router.receive(w, { type: 'sockrun:delegate', id: 1, delegate: 'sync', reply: true });
    router.receive(w, { type: 'sockrun:delegate', id: 2, delegate: 'async', reply: true });
    await tick();
    expect(w.sent).toEqual([
      { type: 'sockrun:delegate-reply', id: 1, ok: false, error: { code: 'SOCKRUN_ERR_DELEGATE_FAILED', message: 'boom' } },
      { type: 'sockrun:delegate-reply', id: 2, ok: false, error: { code: 'SOCKRUN_ERR_DELEGATE_FAILED', message: 'later boom' } },
    ]);
  });

  test('timeout: the worker gets SOCKRUN_ERR_DELEGATE_TIMEOUT, the handler\'s signal aborts, its late answer is not sent', async () => {
    const router = new DelegateRouter();
    let signal: AbortSignal | undefined;
    router.handle('slow', (_p, ctx) => {
      signal = ctx.signal;
      return new Promise((r) => setTimeout(() => r('late'), 120));
    });
    const w = peer(1);
    router.receive(w, { type: 'sockrun:delegate', id: 1, delegate: 'slow', reply: true, timeoutMs: 30 });
    expect(await w.next()).toMatchObject({ ok: false, error: { code: 'SOCKRUN_ERR_DELEGATE_TIMEOUT' } });
    expect(signal!.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 150));
    expect(w.sent).toHaveLength(1);
    expect(router.pendingCount).toBe(0);
  });

  test('a peer that goes away: its requests are abandoned (signal aborted, nothing sent), its subscriptions dropped', async () => {
    const router = new DelegateRouter();
    let release!: (v: unknown) => void;
    let signal: AbortSignal | undefined;
    router.handle('hang', (_p, ctx) => {
      signal = ctx.signal;
      return new Promise((r) => (release = r));
    });
    router.handle('flags', () => ({ v: 1 }));
    const [a, b] = [peer(1), peer(2)];
    router.receive(a, { type: 'sockrun:delegate', id: 1, delegate: 'flags', reply: true, notification: true });
    router.receive(b, { type: 'sockrun:delegate', id: 1, delegate: 'flags', reply: true, notification: true });
    await tick();
    router.receive(a, { type: 'sockrun:delegate', id: 2, delegate: 'hang', reply: true });
    await tick();
    expect(router.pendingCount).toBe(1);
    router.dropPeer(1);
    expect(signal!.aborted).toBe(true);
    expect(String((signal!.reason as Error).message)).toBe('worker 1 exited');
    expect(router.pendingCount).toBe(0);
    release('too late');
    await tick();
    expect(a.sent).toHaveLength(1); // only the flags answer
    expect(router.notify('flags', { v: 2 })).toBe(1);
    expect(b.sent[1]).toEqual({ type: 'sockrun:delegate-notify', id: 1, delegate: 'flags', value: { v: 2 } });
  });

  test('notify() reaches only the workers that subscribed, after their answer; asking again replaces the subscription', async () => {
    const router = new DelegateRouter();
    router.handle('flags', () => 'first');
    const [sub, plain] = [peer(1), peer(2)];
    router.receive(sub, { type: 'sockrun:delegate', id: 5, delegate: 'flags', reply: true, notification: true });
    router.receive(plain, { type: 'sockrun:delegate', id: 5, delegate: 'flags', reply: true });
    expect(router.notify('flags', 'too early')).toBe(0); // not answered yet: not subscribed yet
    await tick();
    router.receive(sub, { type: 'sockrun:delegate', id: 9, delegate: 'flags', reply: true, notification: true });
    await tick();
    expect(router.notify('flags', 'second')).toBe(1);
    expect(sub.sent.map((m) => m.type)).toEqual(['sockrun:delegate-reply', 'sockrun:delegate-reply', 'sockrun:delegate-notify']);
    expect(sub.sent[2]).toMatchObject({ id: 9, value: 'second' });
    expect(plain.sent).toHaveLength(1);
  });

  test('one handler per kind; unregistering frees the kind', () => {
    const router = new DelegateRouter();
    const off = router.handle('k', () => 1);
    expect(() => router.handle('k', () => 2)).toThrow('a delegate handler for "k" is already registered');
    off();
    expect(() => router.handle('k', () => 2)).not.toThrow();
  });

  test('anything that is not a delegation is left alone', () => {
    const router = new DelegateRouter();
    const w = peer(1);
    for (const m of [null, 'x', { type: 'sockrun:ping' }, { type: 'counter' }, { type: 'delegate' }]) expect(router.receive(w, m)).toBe(false);
    expect(w.sent).toEqual([]);
  });
});

describe('DelegateRouter: cluster2\'s message shape', () => {
  test('no expect: the kind is emitted as an event with the message (a remote logger); nothing comes back', () => {
    const events = new EventEmitter();
    const router = new DelegateRouter({ events });
    const seen: unknown[] = [];
    events.on('log', (m, who) => seen.push([m, who]));
    const w = peer(3);
    router.receive(w, { type: 'delegate', delegate: 'log', line: 'hi' });
    expect(seen).toEqual([[{ type: 'delegate', delegate: 'log', line: 'hi' }, { pid: 3, id: 3 }]]);
    expect(w.sent).toEqual([]);
  });

  test('expect + matches: the first `expect` event whose matched fields equal the request\'s is the answer, sent as type = expect', async () => {
    const events = new EventEmitter();
    const router = new DelegateRouter({ events });
    events.on('read-config', (m: { name: string }) => {
      events.emit('config-read', { name: 'other', value: 'wrong' });
      setImmediate(() => events.emit('config-read', { name: m.name, value: `v:${m.name}` }));
    });
    const w = peer(1);
    router.receive(w, { type: 'delegate', delegate: 'read-config', expect: 'config-read', matches: ['name'], name: 'db' });
    expect(await w.next()).toEqual({ type: 'config-read', name: 'db', value: 'v:db' });
    expect(events.listenerCount('config-read')).toBe(0); // the one-shot listener is gone
  });

  test('a typed handler answers the cluster2 shape too: payload is the message, matched fields are copied, non-objects travel as value', async () => {
    const router = new DelegateRouter({ events: new EventEmitter() });
    router.handle('count', (m: { name: string }) => m.name.length);
    const w = peer(1);
    router.receive(w, { type: 'delegate', delegate: 'count', expect: 'counted', matches: ['name'], name: 'four' });
    expect(await w.next()).toEqual({ type: 'counted', value: 4, name: 'four' });
  });

  test('no handler and no listener: the request comes back at once with error and errorCode; timeOut: with error "timeout"', async () => {
    const events = new EventEmitter();
    const router = new DelegateRouter({ events });
    events.on('silent', () => undefined);
    const w = peer(1);
    router.receive(w, { type: 'delegate', delegate: 'nobody', expect: 'x', name: 'n' });
    expect(w.sent[0]).toMatchObject({ type: 'x', name: 'n', errorCode: 'SOCKRUN_ERR_DELEGATE_NO_HANDLER' });
    router.receive(w, { type: 'delegate', delegate: 'silent', expect: 'y', timeOut: 20 });
    expect(await w.next()).toMatchObject({ type: 'y', delegate: 'silent', error: 'timeout', errorCode: 'SOCKRUN_ERR_DELEGATE_TIMEOUT' });
    expect(events.listenerCount('y')).toBe(0);
  });

  test('notification: later `expect` events are pushed to every subscriber, and not twice to one answered by the same event', async () => {
    const events = new EventEmitter();
    const router = new DelegateRouter({ events });
    events.on('read-config', () => undefined); // answers come later, whenever the config changes
    const [a, b] = [peer(1), peer(2)];
    const request = { type: 'delegate', delegate: 'read-config', expect: 'config-read', notification: true };
    router.receive(a, request);
    events.emit('config-read', { v: 1 }); // answers a; a subscribes
    router.receive(b, request);
    events.emit('config-read', { v: 2 }); // a: a change; b: its answer (only once)
    events.emit('config-read', { v: 3 }); // a change for both
    await tick();
    expect(a.sent).toEqual([{ v: 1, type: 'config-read' }, { v: 2, type: 'config-read' }, { v: 3, type: 'config-read' }]);
    expect(b.sent).toEqual([{ v: 2, type: 'config-read' }, { v: 3, type: 'config-read' }]);
    expect(router.notify('read-config', { v: 4 })).toBe(2);
  });

  test('notification: a request pending since before the first subscription is answered once, not also notified', async () => {
    const events = new EventEmitter();
    const router = new DelegateRouter({ events });
    events.on('read-config', () => undefined);
    const [early, later] = [peer(1), peer(2)];
    const ask = (name: string) => ({ type: 'delegate', delegate: 'read-config', expect: 'config-read', matches: ['name'], name, notification: true });
    router.receive(early, ask('early')); // its listener for config-read comes first
    router.receive(later, ask('later'));
    events.emit('config-read', { name: 'later', v: 1 }); // answers `later`, which subscribes
    events.emit('config-read', { name: 'early', v: 2 }); // answers `early`; a change for `later`
    await tick();
    expect(early.sent).toEqual([{ name: 'early', v: 2, type: 'config-read' }]);
    expect(later.sent).toEqual([{ name: 'later', v: 1, type: 'config-read' }, { name: 'early', v: 2, type: 'config-read' }]);
  });
});

describe('delegate() on the worker side, against a master in this process', () => {
  const router = new DelegateRouter();
  router.handle('echo', (p) => p);
  router.handle('never', () => new Promise(() => undefined));
  router.handle('broken', () => {
    throw new Error('nope');
  });
  router.handle('flags', () => 'v1');
  const told: unknown[] = [];
  router.handle('log', (p) => void told.push(p));
  let deliver: (m: MasterMessage) => void;
  const self: Peer = { pid: process.pid, send: (m) => (isMasterMessage(m) ? deliver(m) : undefined) };

  beforeAll(() => {
    deliver = useInProcessMaster({ send: (req) => setImmediate(() => router.receive(self, req)) });
  });
  afterAll(() => useInProcessMaster(undefined));

  test('resolves with the handler\'s value', async () => {
    await expect(delegate('echo', { a: 1 })).resolves.toEqual({ a: 1 });
  });

  test('rejects with a DelegateError carrying the code: no handler, failure, timeout', async () => {
    const missing = await delegate('missing').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DelegateError);
    expect(missing).toMatchObject({ code: 'SOCKRUN_ERR_DELEGATE_NO_HANDLER', kind: 'missing' });
    await expect(delegate('broken')).rejects.toMatchObject({ code: 'SOCKRUN_ERR_DELEGATE_FAILED', message: 'nope' });
    const t0 = Date.now();
    await expect(delegate('never', undefined, { timeout: 50 })).rejects.toMatchObject({
      code: 'SOCKRUN_ERR_DELEGATE_TIMEOUT', message: 'delegate "never": no answer from the master within 50 ms',
    });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  test('onNotification receives what the master publishes later', async () => {
    const got: unknown[] = [];
    await expect(delegate('flags', undefined, { onNotification: (v) => got.push(v) })).resolves.toBe('v1');
    expect(router.notify('flags', 'v2')).toBe(1);
    expect(got).toEqual(['v2']);
  });

  test('tell() runs the handler and expects nothing back', async () => {
    expect(tell('log', 'line')).toBe(true);
    await tick();
    await tick();
    expect(told).toEqual(['line']);
  });
});

describe('delegate() with no master', () => {
  test('rejects at once with SOCKRUN_ERR_DELEGATE_NO_MASTER; tell() returns false', async () => {
    await expect(delegate('x')).rejects.toMatchObject({ code: 'SOCKRUN_ERR_DELEGATE_NO_MASTER' });
    expect(tell('x')).toBe(false);
  });

  test('an IPC channel to a parent that is not a sockrun master (a test runner, a process manager) is never used', async () => {
    const proc = process as unknown as { send?: unknown; connected?: unknown };
    const saved = { send: proc.send, connected: Object.getOwnPropertyDescriptor(process, 'connected') };
    const send = jest.fn();
    proc.send = send;
    Object.defineProperty(process, 'connected', { value: true, configurable: true, writable: true });
    const env = process.env.SOCKRUN_SOCKETS;
    delete process.env.SOCKRUN_SOCKETS;
    try {
      await expect(delegate('x')).rejects.toMatchObject({ code: 'SOCKRUN_ERR_DELEGATE_NO_MASTER' });
      expect(tell('x')).toBe(false);
      expect(send).not.toHaveBeenCalled();
    } finally {
      proc.send = saved.send;
      if (saved.connected) Object.defineProperty(process, 'connected', saved.connected);
      else delete proc.connected;
      if (env !== undefined) process.env.SOCKRUN_SOCKETS = env;
    }
  });
});

describe('attachDelegation (for the CLI master, which has no handlers)', () => {
  const fakeWorker = (pid: number, sent: unknown[]) => ({ pid, id: 0, child: { connected: true, send: (m: unknown) => sent.push(m) } });
  const attach = (master: EventEmitter) => attachDelegation(master as Master, {} as Configuration, pino({ level: 'silent' }));

  test('answers SOCKRUN_ERR_DELEGATE_NO_HANDLER at once, from the first request on (the router loads with it)', async () => {
    const master = new EventEmitter();
    const attached = await attach(master);
    const sent: unknown[] = [];
    master.emit('message', fakeWorker(5, sent), { type: 'sockrun:ping', stats: {} });
    master.emit('message', fakeWorker(5, sent), { type: 'sockrun:delegate', id: 1, delegate: 'x', reply: true });
    master.emit('message', fakeWorker(5, sent), { type: 'delegate', delegate: 'y', expect: 'y-answer' });
    expect(sent).toEqual([
      { type: 'sockrun:delegate-reply', id: 1, ok: false, error: { code: 'SOCKRUN_ERR_DELEGATE_NO_HANDLER', message: expect.any(String) } },
      expect.objectContaining({ type: 'y-answer' }),
    ]);
    attached.close();
    expect(master.listenerCount('message')).toBe(0);
  });

  test('closed before any request: leaves no listener', async () => {
    const master = new EventEmitter();
    (await attach(master)).close();
    expect(master.listenerCount('message')).toBe(0);
  });

  test('stays out of the way of a router already attached (a Cluster master answers with its handlers)', async () => {
    const master = new EventEmitter();
    const router = new DelegateRouter();
    router.handle('x', () => 'from the Cluster');
    router.attach(master);
    await attach(master);
    const sent: unknown[] = [];
    master.emit('message', fakeWorker(5, sent), { type: 'sockrun:delegate', id: 1, delegate: 'x', reply: true });
    await tick();
    expect(sent).toEqual([{ type: 'sockrun:delegate-reply', id: 1, ok: true, value: 'from the Cluster' }]);
  });
});
