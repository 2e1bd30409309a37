import { EventEmitter } from 'node:events';
import * as v8 from 'node:v8';
import { compactWhenReady } from '../../src/cli/compact';

const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

// Node 20's V8 (no longer a supported line) has no memory-reducing flavor of gc(): a plain full GC keeps the young generation.
const supported = Number(process.versions.node.split('.')[0]) >= 22;

describe('the master gives its start-up garbage back once READY', () => {
  (supported ? test : test.skip)('a young generation grown by a burst of allocations shrinks after READY, and no gc() is left in the global scope', async () => {
    const master = new EventEmitter();
    const stop = compactWhenReady(master);
    // A start-up-like burst: short-lived objects that survive a scavenge or two grow the young generation.
    let keep: unknown[] = [];
    for (let i = 0; i < 200; i++) {
      keep = Array.from({ length: 20_000 }, (_, k) => ({ k, s: `x${k}` }));
    }
    keep = [];
    const grown = newSpace();
    master.emit('state', 'STARTING');
    master.emit('state', 'READY');
    await new Promise((r) => setTimeout(r, 800));
    expect(newSpace()).toBeLessThan(grown);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    stop();
    expect(master.listenerCount('state')).toBe(0);
  });
});
