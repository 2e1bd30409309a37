import * as net from 'node:net';
import pino from 'pino';
import type { SharedAddress } from '../../src/protocol';
import { ShareClient, SharedSockets } from '../../src/sockets/shared';

/** A worker as the master sees it, recording what it was sent. */
function worker(pid: number, stage = 'LISTENING') {
  const sent: { message: { type: string; id: number; error?: { code: string } }; handle: unknown }[] = [];
  const w: ShareClient & { sent: typeof sent } = {
    pid,
    stage,
    sent,
    child: { connected: true, send: (message, handle) => (sent.push({ message: message as never, handle }), true) },
  };
  return w;
}

/** The master still holds the socket it handed out: its descriptor is open. */
const held = (w: ReturnType<typeof worker>): boolean => (w.sent[0].handle as { fd: number }).fd >= 0;

async function freeLoopbackPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const open = (address: SharedAddress, id = 1) => ({ type: 'sockrun:share' as const, op: 'open' as const, id, address });
const close = (address: SharedAddress) => ({ type: 'sockrun:share' as const, op: 'close' as const, id: 0, address });

describe('shared sockets for the app servers\' own addresses', () => {
  const log = pino({ level: 'silent' });

  test('bound once, handed to every worker that asks, kept while one uses it or one is booting', async () => {
    const address: SharedAddress = { kind: 'tcp', host: '127.0.0.1', port: await freeLoopbackPort() };
    const shared = new SharedSockets(log);
    const [a, b] = [worker(101), worker(102)];
    shared.onMessage(a, open(address, 1));
    shared.onMessage(b, open(address, 7));
    expect(a.sent[0].message).toEqual({ type: 'sockrun:shared', id: 1 });
    expect(b.sent[0].message).toEqual({ type: 'sockrun:shared', id: 7 });
    expect(a.sent[0].handle).toBe(b.sent[0].handle);
    expect(held(a)).toBe(true);
    expect(shared.bootHint(101)).toMatch(/its own address 127\.0\.0\.1:\d+/);
    expect(shared.bootHint(999)).toBe('');

    shared.onMessage(a, close(address));
    shared.prune([a, b]);
    expect(held(a)).toBe(true); // b still listens on it

    const booting = worker(103, 'SPAWNED');
    shared.prune([a, booting]); // b exited; a replacement is booting and may ask for it
    expect(held(a)).toBe(true);

    shared.prune([a]);
    expect(held(a)).toBe(false);
    // Asked again later: bound anew.
    const c = worker(104);
    shared.onMessage(c, open(address));
    expect(held(c)).toBe(true);
    expect(c.sent[0].handle).not.toBe(a.sent[0].handle);
  });

  test('an address the master cannot bind is an errno the worker\'s server emits', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const { port } = busy.address() as net.AddressInfo;
    const shared = new SharedSockets(log);
    const w = worker(201);
    shared.onMessage(w, open({ kind: 'tcp', host: '127.0.0.1', port }));
    expect(w.sent[0]).toEqual({ message: { type: 'sockrun:shared', id: 1, error: { code: 'EADDRINUSE', message: 'address already in use' } }, handle: undefined });
    await new Promise((r) => busy.close(r));
  });
});
