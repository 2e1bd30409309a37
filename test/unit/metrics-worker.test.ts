import * as path from 'node:path';
import type { MetricsPush } from '../../src/protocol';
import { MetricsPusher, appPromClient, diffFamilies } from '../../src/worker/metrics';

const ROOT = path.resolve(__dirname, '..', '..');
const fakeClient = { register: { getMetricsAsJSON: () => [] } };
const mod = (exports: unknown) => ({ exports }) as NodeModule;

describe("a worker finds the app's own prom-client", () => {
  const app = path.join(ROOT, 'test', 'fixtures', 'metrics', 'app.js');
  const resolved = require.resolve('prom-client', { paths: [path.dirname(app)] });

  test('only when the app loaded it: nothing is loaded on its behalf', () => {
    expect(appPromClient({}, app)).toBeUndefined();
  });

  test('the copy the app resolves from its own directory', () => {
    expect(appPromClient({ [resolved]: mod(fakeClient) }, app)).toBe(fakeClient);
  });

  test('or a copy it loaded from elsewhere (a workspace package)', () => {
    const elsewhere = '/srv/monorepo/packages/web/node_modules/prom-client/index.js';
    expect(appPromClient({ [elsewhere]: mod(fakeClient) }, '/srv/monorepo/main.js')).toBe(fakeClient);
  });

  test('never something that is not a prom-client', () => {
    expect(appPromClient({ [resolved]: mod({ register: {} }) }, app)).toBeUndefined();
  });
});

describe('a worker pushes what changed', () => {
  const fam = (name: string, value: number) => ({ name, help: name, type: 'counter', values: [{ value, labels: {} }] });

  test('all families first, then only those whose values changed, and the names that went away', () => {
    const sent = new Map<string, string>();
    expect(diffFamilies(sent, [fam('a_total', 1), fam('b_total', 1)], true)).toEqual({ changed: [fam('a_total', 1), fam('b_total', 1)], removed: [] });
    expect(diffFamilies(sent, [fam('a_total', 1), fam('b_total', 1)], false)).toEqual({ changed: [], removed: [] });
    expect(diffFamilies(sent, [fam('a_total', 2), fam('b_total', 1)], false)).toEqual({ changed: [fam('a_total', 2)], removed: [] });
    expect(diffFamilies(sent, [fam('a_total', 2)], false)).toEqual({ changed: [], removed: ['b_total'] });
    expect(diffFamilies(sent, [fam('a_total', 2)], true)).toEqual({ changed: [fam('a_total', 2)], removed: [] });
  });

  test('numbered pushes: the first is full, a failed collection changes nothing, asked-for pushes are full', async () => {
    const pushes: MetricsPush[] = [];
    let families: unknown[] | Error = [fam('a_total', 1)];
    const pusher = new MetricsPusher(async () => {
      if (families instanceof Error) throw families;
      return families;
    }, (m) => pushes.push(m));
    await pusher.push('delta');
    await pusher.push('delta');
    families = new Error('collect callback threw');
    await pusher.push('delta');
    families = [fam('a_total', 2)];
    await pusher.push('delta');
    await pusher.push('final');
    expect(pushes.map(({ seq, full, families: f, removed, error, final }) => ({ seq, full, n: f.length, removed, error, final }))).toEqual([
      { seq: 1, full: true, n: 1, removed: [], error: undefined, final: undefined },
      { seq: 2, full: false, n: 0, removed: [], error: undefined, final: undefined },
      { seq: 3, full: false, n: 0, removed: [], error: 'collect callback threw', final: undefined },
      { seq: 4, full: false, n: 1, removed: [], error: undefined, final: undefined },
      { seq: 5, full: true, n: 1, removed: [], error: undefined, final: true },
    ]);
  });

  test('a registry JSON cannot write is a failed push, reported, never thrown into the app; the next push is a delta against the last good one', async () => {
    const pushes: MetricsPush[] = [];
    let families: unknown[] = [fam('a_total', 1), fam('b_total', 1)];
    const pusher = new MetricsPusher(async () => families, (m) => pushes.push(m));
    await pusher.push('delta');
    families = [fam('a_total', 2), { ...fam('b_total', 1), values: [{ value: 10n, labels: {} }] }];
    await expect(pusher.push('delta')).resolves.toBeUndefined();
    families = [fam('a_total', 2), fam('b_total', 1)];
    await pusher.push('delta');
    expect(pushes.map(({ seq, families: f, error }) => ({ seq, names: f.map((x) => (x as { name: string }).name), failed: typeof error === 'string' }))).toEqual([
      { seq: 1, names: ['a_total', 'b_total'], failed: false },
      { seq: 2, names: [], failed: true },
      { seq: 3, names: ['a_total'], failed: false },
    ]);
  });

  test('one collection at a time: a periodic push due meanwhile is skipped, an asked-for one follows', async () => {
    let release!: () => void;
    let calls = 0;
    const pushes: MetricsPush[] = [];
    const pusher = new MetricsPusher(() => {
      calls++;
      return new Promise<unknown[]>((resolve) => (release = () => resolve([])));
    }, (m) => pushes.push(m));
    const first = pusher.push('delta');
    const skipped = pusher.push('delta');
    const full = pusher.push('full');
    expect(calls).toBe(1);
    release();
    await first;
    await skipped;
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(2);
    release();
    await full;
    expect(pushes.map((p) => [p.seq, p.full])).toEqual([[1, true], [2, true]]);
  });
});
