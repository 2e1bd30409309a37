/**
 * The rule the scrape path lives by (docs/metrics.md, "How fresh a scrape is"): the master keeps
 * what each worker last pushed, deltas on top of a full push; a scrape shows a worker's values as
 * of its last push (at most one push interval old), its last values when it falls behind (then
 * it counts as missing), and counters that never go backwards across exits.
 */
import { EventEmitter } from 'node:events';
import { AppMetrics } from '../../src/metrics/app';
import { PushedMetrics } from '../../src/metrics/pushes';
import type { MasterMessage, MetricsPush } from '../../src/protocol';

const INTERVAL_MS = 1000;
let clock = 0;
const now = () => clock;

class Worker {
  stage = 'LISTENING';
  readonly child = { connected: true };
  readonly asked: number[] = [];
  seq = 0;
  constructor(private readonly master: Master) {}
  send(m: MasterMessage): void {
    if (m.type === 'sockrun:collect-metrics') this.asked.push(clock);
  }
  push(p: Partial<MetricsPush>): void {
    this.master.emit('message', this, { type: 'sockrun:metrics-push', seq: ++this.seq, full: false, families: [], removed: [], ...p });
  }
}

class Master extends EventEmitter {
  workers: Worker[] = [];
  liveWorkers() {
    return this.workers;
  }
  listen(): Worker {
    const w = new Worker(this);
    this.workers.push(w);
    this.emit('listening', w);
    return w;
  }
  exit(w: Worker): void {
    this.workers = this.workers.filter((x) => x !== w);
    this.emit('exit', w);
  }
}

const counter = (name: string, value: number) => ({ name, help: name, type: 'counter', values: [{ value, labels: {} }] });
const gauge = (name: string, value: number) => ({ name, help: name, type: 'gauge', values: [{ value, labels: {} }] });

function setup() {
  clock = 0;
  const master = new Master();
  const app = new AppMetrics(now);
  const pushes = new PushedMetrics(master as never, app, INTERVAL_MS, now);
  const value = (name: string) => app.aggregate(name)?.values[0]?.value;
  return { master, app, pushes, value };
}

describe('pushed metrics', () => {
  test('a delta changes only the families it carries; a removed counter keeps its total', () => {
    const { master, value } = setup();
    const w = master.listen();
    w.push({ full: true, families: [counter('a_total', 1), counter('b_total', 5), gauge('g', 3)] });
    w.push({ families: [counter('a_total', 4)] });
    expect([value('a_total'), value('b_total'), value('g')]).toEqual([4, 5, 3]);
    w.push({ removed: ['b_total', 'g'] });
    expect([value('a_total'), value('b_total'), value('g')]).toEqual([4, 5, undefined]);
  });

  test('a delta with nothing to build on is not applied: the worker is asked for a full push, at most once a push interval', () => {
    const { master, value } = setup();
    const w = master.listen();
    expect(w.asked).toEqual([0]); // asked when it started listening
    clock = 10;
    w.push({ seq: 5, families: [counter('a_total', 9)] }); // no full push seen yet
    clock = 20;
    w.push({ families: [counter('a_total', 10)] });
    expect(value('a_total')).toBeUndefined();
    expect(w.asked).toEqual([0]); // the question at 0 still stands
    clock = 1500;
    w.push({ families: [counter('a_total', 11)] });
    expect(w.asked).toEqual([0, 1500]);
    w.push({ full: true, families: [counter('a_total', 12)] });
    w.push({ seq: w.seq + 2, families: [counter('a_total', 20)] }); // a gap: a push went missing
    expect(value('a_total')).toBe(12);
  });

  test('counters never go backwards: across an exit, a final push processed after it, and the replacement starting from zero', () => {
    const { master, value } = setup();
    const a = master.listen();
    const b = master.listen();
    a.push({ full: true, families: [counter('jobs_total', 10)] });
    b.push({ full: true, families: [counter('jobs_total', 5)] });
    expect(value('jobs_total')).toBe(15);
    master.exit(a);
    expect(value('jobs_total')).toBe(15);
    a.push({ full: true, final: true, families: [counter('jobs_total', 12)] }); // its final push, after the exit
    expect(value('jobs_total')).toBe(17);
    const c = master.listen();
    c.push({ full: true, families: [counter('jobs_total', 0)] });
    b.push({ families: [counter('jobs_total', 2)] }); // b's app reset the counter
    expect(value('jobs_total')).toBe(19);
  });

  test('a worker is missing when its last push is three intervals old or its collection failed; its values stay; booting workers never are', () => {
    const { master, pushes, value } = setup();
    const w = master.listen();
    w.push({ full: true, families: [counter('a_total', 1)] });
    const booting = new Worker(master);
    booting.stage = 'SPAWNED';
    master.workers.push(booting);
    clock = 3 * INTERVAL_MS;
    expect(pushes.freshness()).toEqual({ serving: 1, missing: 0, reasons: [] });
    clock = 3 * INTERVAL_MS + 1;
    expect(pushes.freshness()).toEqual({ serving: 1, missing: 1, reasons: [`no push for ${3 * INTERVAL_MS + 1} ms`] });
    expect(value('a_total')).toBe(1);
    w.push({});
    expect(pushes.freshness().missing).toBe(0);
    w.push({ error: 'collect callback threw' });
    expect(pushes.freshness()).toEqual({ serving: 1, missing: 1, reasons: ['collect failed: collect callback threw'] });
    w.push({ families: [counter('a_total', 2)] }); // a failed collection changed nothing: deltas still apply
    expect(pushes.freshness().missing).toBe(0);
    expect(value('a_total')).toBe(2);
    w.stage = 'DRAINING';
    clock += 10 * INTERVAL_MS;
    expect(pushes.freshness().missing).toBe(1);
  });
});
