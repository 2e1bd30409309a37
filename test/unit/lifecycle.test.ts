import { MasterState, transition } from '../../src/master/lifecycle';

describe('master lifecycle transitions', () => {
  test('the happy path: STARTING → READY ⇄ RELOADING → DRAINING → STOPPED', () => {
    expect(transition('STARTING', 'all-listening')).toBe('READY');
    expect(transition('READY', 'reload')).toBe('RELOADING');
    expect(transition('RELOADING', 'reload-done')).toBe('READY');
    expect(transition('RELOADING', 'reload-aborted')).toBe('READY');
    expect(transition('READY', 'drain')).toBe('DRAINING');
    expect(transition('DRAINING', 'drained')).toBe('STOPPED');
  });

  test('a reload during a drain is not a transition (ignored and logged)', () => {
    expect(transition('DRAINING', 'reload')).toBeUndefined();
    expect(transition('STARTING', 'reload')).toBeUndefined();
  });

  test('stop applies everywhere but STOPPED', () => {
    for (const s of ['STARTING', 'READY', 'RELOADING', 'DRAINING'] as MasterState[]) expect(transition(s, 'stop')).toBe('STOPPED');
    expect(transition('STOPPED', 'stop')).toBeUndefined();
  });

  test('boot failure only ends a start', () => {
    expect(transition('STARTING', 'boot-failed')).toBe('STOPPED');
    expect(transition('READY', 'boot-failed')).toBeUndefined();
  });
});
