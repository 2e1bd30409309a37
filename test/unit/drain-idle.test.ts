/**
 * The idle policy of the worker (src/worker/drain/idle.ts): which connections --idle-timeout
 * ends, and which a drain ends, by protocol.
 */
import { DRAIN_IDLE_GRACE_MS, IdleView, idleAction, sweepEveryMs } from '../../src/worker/drain/idle';
import { endUpgradedAfterMs } from '../../src/worker/drain/upgraded';

const conn = (c: Partial<IdleView>): IdleView => ({ kind: 'http', upgraded: false, inFlight: 0, idleForMs: 0, ...c });
const serving = { idleTimeoutMs: 30_000, draining: false };
const draining = { idleTimeoutMs: 30_000, draining: true };

test.each([
  // what, connection, state, action
  ['a keep-alive connection idle past the timeout is destroyed', conn({ idleForMs: 30_000 }), serving, 'destroy'],
  ['a keep-alive connection idle for less is kept', conn({ idleForMs: 29_999 }), serving, 'keep'],
  ['a long-poll in flight, however quiet, is kept', conn({ inFlight: 1, idleForMs: 600_000 }), serving, 'keep'],
  ['an SSE stream in flight is kept, even during a drain', conn({ inFlight: 1, idleForMs: 600_000 }), draining, 'keep'],
  ['a quiet WebSocket is kept: its liveness is the app\'s', conn({ upgraded: true, idleForMs: 600_000 }), serving, 'keep'],
  ['a WebSocket is kept during a drain (the app closes it; sockrun ends it at the deadline)', conn({ upgraded: true, idleForMs: 600_000 }), draining, 'keep'],
  ['an idle HTTP/2 session gets a graceful GOAWAY', conn({ kind: 'h2', idleForMs: 30_000 }), serving, 'goaway'],
  ['an HTTP/2 session with a stream open is kept', conn({ kind: 'h2', inFlight: 1, idleForMs: 600_000 }), serving, 'keep'],
  ['a raw TCP connection without I/O past the timeout is destroyed', conn({ kind: 'tcp', idleForMs: 30_000 }), serving, 'destroy'],
  ['a raw TCP connection is left to end by itself during a drain', conn({ kind: 'tcp', idleForMs: 1_000 }), draining, 'keep'],
  ['during a drain, a keep-alive connection idle for the grace is ended', conn({ idleForMs: DRAIN_IDLE_GRACE_MS }), draining, 'end'],
  ['during a drain, one that just answered is given the grace', conn({ idleForMs: DRAIN_IDLE_GRACE_MS - 1 }), draining, 'keep'],
  ['with --idle-timeout 0 nothing is ended while serving', conn({ kind: 'tcp', idleForMs: 1e9 }), { idleTimeoutMs: 0, draining: false }, 'keep'],
] as const)('%s', (_what, c, o, action) => {
  expect(idleAction(c, o)).toBe(action);
});

test('the sweep looks often enough for the timeout, and every 100 ms during a drain', () => {
  expect(sweepEveryMs({ idleTimeoutMs: 30_000, draining: false })).toBe(1000);
  expect(sweepEveryMs({ idleTimeoutMs: 1000, draining: false })).toBe(250);
  expect(sweepEveryMs({ idleTimeoutMs: 100, draining: false })).toBe(50);
  expect(sweepEveryMs({ idleTimeoutMs: 30_000, draining: true })).toBe(100);
});

test('upgraded connections are ended just before --graceful-timeout: 1 s before, or 20 % of a short one', () => {
  expect(endUpgradedAfterMs(30_000)).toBe(29_000);
  expect(endUpgradedAfterMs(2500)).toBe(2000);
});
