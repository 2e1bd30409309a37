/**
 * The status page's history (src/admin/history.ts) is bounded in memory whatever the master
 * reports, and the app's package is read from the nearest package.json only (src/admin/status.ts).
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HISTORY_LIMITS, History, Ring } from '../../src/admin/history';
import { readAppPackage } from '../../src/admin/status';

const worker = (pid: number, extra: object = {}) => ({
  id: pid % 4, pid, generation: 1, spawnedAt: 1_000, exit: { code: 1, signal: null, reason: 'crash' }, ...extra,
});

describe('a ring keeps the newest entries and counts them all', () => {
  test('past its capacity the oldest entry goes first; the total keeps counting', () => {
    const ring = new Ring<number>(3);
    for (let i = 1; i <= 10; i++) ring.push(i);
    expect(ring.newestFirst()).toEqual([10, 9, 8]);
    expect(ring.total).toBe(10);
  });

  test('a capacity below 1 is refused', () => {
    expect(() => new Ring(0)).toThrow(RangeError);
  });
});

describe('the history of reloads and exits is bounded', () => {
  test('a crash loop of 10,000 exits keeps the last 100, newest first, and counts all of them', () => {
    const history = new History();
    for (let pid = 1; pid <= 10_000; pid++) history.recordExit(worker(pid), 'crash', 2_000);
    const s = history.snapshot();
    expect(s.exits).toHaveLength(HISTORY_LIMITS.exits);
    expect(s.exits[0].pid).toBe(10_000);
    expect(s.exits[s.exits.length - 1].pid).toBe(10_000 - HISTORY_LIMITS.exits + 1);
    expect(s.exitsTotal).toBe(10_000);
    expect(s.limits).toEqual({ reloads: HISTORY_LIMITS.reloads, exits: HISTORY_LIMITS.exits });
  });

  test('reloads are kept up to their own limit', () => {
    const history = new History({ reloads: 5, exits: 5, textChars: 100 });
    for (let g = 2; g <= 40; g++) history.recordReload({ ok: true, generation: g, durationMs: 10, message: `generation ${g} serving` });
    const s = history.snapshot();
    expect(s.reloads.map((r) => r.generation)).toEqual([40, 39, 38, 37, 36]);
    expect(s.reloadsTotal).toBe(39);
  });

  test('a megabyte of boot error is kept as its first 2,000 characters, in both lists', () => {
    const history = new History();
    const huge = `<b>${'x'.repeat(1024 * 1024)}</b>`;
    history.recordExit(worker(7, { bootError: huge }), 'boot_failure', 2_000);
    history.recordReload({ ok: false, generation: 2, durationMs: 5, message: `a worker of generation 2 failed to boot: ${huge}` });
    const { exits, reloads } = history.snapshot();
    expect(exits[0].bootError).toHaveLength(HISTORY_LIMITS.textChars);
    expect(exits[0].bootError!.startsWith('<b>xxx')).toBe(true);
    expect(exits[0].bootError!.endsWith('…')).toBe(true);
    expect(reloads[0].message).toHaveLength(HISTORY_LIMITS.textChars);
  });

  test('an exit records slot, pid, generation, reason, code or signal, how long it ran and the boot error', () => {
    const history = new History();
    history.recordExit(worker(13, { exit: { code: null, signal: 'SIGKILL', reason: 'hang' } }), 'hang', 61_000);
    history.recordExit({ id: 0, pid: 14, generation: 3 }, 'boot_failure', 61_000);
    expect(history.snapshot().exits).toEqual([
      { at: new Date(61_000).toISOString(), slot: 0, pid: 14, generation: 3, reason: 'boot_failure', code: null, signal: null, uptimeMs: null, bootError: null },
      { at: new Date(61_000).toISOString(), slot: 1, pid: 13, generation: 1, reason: 'hang', code: null, signal: 'SIGKILL', uptimeMs: 60_000, bootError: null },
    ]);
  });

  test('a reload result is copied field by field: fields the master adds later are kept, objects are not', () => {
    const history = new History();
    history.recordReload({ ok: false, generation: 3, durationMs: 1200, message: 'aborted', reason: 'settle', settleMs: 500, workers: [{ pid: 1 }], at: 'spoofed' }, 5_000);
    expect(history.snapshot().reloads).toEqual([
      { at: new Date(5_000).toISOString(), ok: false, generation: 3, durationMs: 1200, message: 'aborted', reason: 'settle', settleMs: 500 },
    ]);
  });

  test('it records the master\'s events until it is told to stop', () => {
    const master = new EventEmitter();
    const history = new History();
    const stop = history.listen(master);
    master.emit('reload', { ok: true, generation: 2, durationMs: 300, message: 'generation 2 serving' });
    master.emit('exit', worker(21, { exit: { code: 0, signal: null, reason: 'reload' } }), 'reload');
    stop();
    master.emit('exit', worker(22), 'crash');
    const s = history.snapshot();
    expect(s.reloads.map((r) => r.message)).toEqual(['generation 2 serving']);
    expect(s.exits.map((x) => [x.pid, x.reason])).toEqual([[21, 'reload']]);
    expect(master.listenerCount('exit') + master.listenerCount('reload')).toBe(0);
  });
});

describe('the app\'s package name and version', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-pkg-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('come from the nearest package.json above the app, and only those two fields', () => {
    fs.mkdirSync(path.join(root, 'a', 'src', 'server'), { recursive: true });
    fs.writeFileSync(path.join(root, 'a', 'package.json'), JSON.stringify({ name: 'shop-api', version: '1.2.3', scripts: { start: 'secret' } }));
    expect(readAppPackage(path.join(root, 'a', 'src', 'server', 'index.js'))).toEqual({ name: 'shop-api', version: '1.2.3' });
  });

  test('a nearest package.json that is not JSON gives nothing rather than a parent\'s', () => {
    fs.mkdirSync(path.join(root, 'a', 'broken'), { recursive: true });
    fs.writeFileSync(path.join(root, 'a', 'broken', 'package.json'), '{ not json');
    expect(readAppPackage(path.join(root, 'a', 'broken', 'index.js'))).toBeNull();
  });

  test('fields that are not strings are null', () => {
    fs.mkdirSync(path.join(root, 'b'), { recursive: true });
    fs.writeFileSync(path.join(root, 'b', 'package.json'), JSON.stringify({ name: { evil: true }, version: 3 }));
    expect(readAppPackage(path.join(root, 'b', 'index.js'))).toEqual({ name: null, version: null });
  });
});
