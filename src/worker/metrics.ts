/**
 * The worker's side of the app's own metrics (DESIGN §7, docs/metrics.md "How fresh a scrape
 * is"). Every SOCKRUN_METRICS_INTERVAL_MS (set by a master with an admin port) the worker reads
 * the app's prom-client default registry (`register.getMetricsAsJSON()`) and pushes to the master
 * what changed since its previous push (`sockrun:metrics-push`): the families whose values
 * differ, and the names of those that went away. The master answers scrapes from what it was
 * pushed and never asks a worker during a scrape, so a scrape costs the workers nothing and does
 * not wait for the slowest event loop (issue 16: 16 busy workers on 2 cores made every scrape as
 * slow as the slowest of them). When the master asks (`sockrun:collect-metrics`: a new worker,
 * or the master lost track) the push is full. On a drain, once the servers closed, a final full
 * push carries the counts since the last one.
 *
 * Only a prom-client the app itself loaded is read: it is looked up where the app would find it
 * (its working directory, the directory of its main file) and then in the module cache. Nothing
 * is loaded on the app's behalf; an app without prom-client pushes an empty list. Nothing here
 * runs per request.
 */
import path = require('node:path');
import { MasterMessage, MetricsPush, WorkerEnv, WorkerMessage } from '../protocol';

/** A final push that takes longer than this is given up: the worker is on its way out. */
const FINAL_PUSH_TIMEOUT_MS = 500;

/** The part of prom-client we use, in every version since 10 (sync before 13, async since). */
interface PromClient {
  register: { getMetricsAsJSON(): unknown[] | Promise<unknown[]> };
}

export interface WorkerMetricsHooks {
  onMasterMessage(handler: (m: MasterMessage) => void): void;
  sendToMaster(message: WorkerMessage): void;
  onShutdown(hook: () => unknown): void;
}

/** Pushes the app's metrics to the master. Called once by installWorkerRuntime. */
export function installWorkerMetrics({ onMasterMessage, sendToMaster, onShutdown }: WorkerMetricsHooks, env: NodeJS.ProcessEnv = process.env): void {
  const pusher = new MetricsPusher(collect, sendToMaster);
  const intervalMs = Number(env[WorkerEnv.METRICS_INTERVAL_MS] ?? 0);
  if (intervalMs > 0) setInterval(() => void pusher.push('delta'), intervalMs).unref();
  onMasterMessage((m) => {
    if (m.type === 'sockrun:collect-metrics') void pusher.push('full');
  });
  onShutdown(async () => {
    // Without an admin port nobody reads them (with one, the master asked as soon as we listened).
    if (!(intervalMs > 0) && pusher.pushes === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, FINAL_PUSH_TIMEOUT_MS).unref()));
    try {
      await Promise.race([pusher.push('final'), late]);
    } finally {
      clearTimeout(timer);
    }
  });
}

/**
 * One worker's pushes: collects, diffs against what it sent last, sends. One collection at a
 * time: a periodic push that falls due while one runs is skipped (a slow registry never piles
 * up work), a full or final one waits for it and then runs.
 */
export class MetricsPusher {
  /** Pushes sent so far; the next one's `seq` is this plus one. */
  pushes = 0;
  /** JSON of each family as last sent, by name. */
  private readonly sent = new Map<string, string>();
  private running: Promise<void> | undefined;

  constructor(
    private readonly collect: () => Promise<unknown[]>,
    private readonly send: (m: MetricsPush) => void,
  ) {}

  push(kind: 'delta' | 'full' | 'final'): Promise<void> {
    if (this.running) return kind === 'delta' ? this.running : this.running.then(() => this.push(kind));
    const run = this.pushNow(kind).finally(() => (this.running = undefined));
    this.running = run;
    return run;
  }

  /** Never rejects: whatever goes wrong in the app's registry is reported, never thrown into the app's process. */
  private async pushNow(kind: 'delta' | 'full' | 'final'): Promise<void> {
    // The first push is full by nature: nothing was sent before it.
    const full = kind !== 'delta' || this.pushes === 0;
    let delta: { changed: unknown[]; removed: string[] };
    try {
      delta = diffFamilies(this.sent, await this.collect(), full);
    } catch (err) {
      this.send({ type: 'sockrun:metrics-push', seq: ++this.pushes, full: false, families: [], removed: [], error: String((err as Error)?.message ?? err) });
      return;
    }
    this.send({ type: 'sockrun:metrics-push', seq: ++this.pushes, full, families: delta.changed, removed: delta.removed, ...(kind === 'final' ? { final: true } : {}) });
  }
}

/**
 * The families of `families` whose JSON differs from `sent` (all of them when `full`), and the
 * names in `sent` that are no longer there; updates `sent` to `families`. Comparing JSON text is
 * what sending would cost anyway, and sends a family only when one of its values changed.
 */
export function diffFamilies(sent: Map<string, string>, families: unknown[], full: boolean): { changed: unknown[]; removed: string[] } {
  // Everything that can throw (a value JSON cannot write) comes before `sent` is touched: a
  // failed push leaves it as the master knows it.
  const now = new Map<string, { family: unknown; json: string }>();
  for (const f of Array.isArray(families) ? families : []) {
    const name = (f as { name?: unknown } | null)?.name;
    if (typeof name === 'string' && !now.has(name)) now.set(name, { family: f, json: JSON.stringify(f) });
  }
  const changed: unknown[] = [];
  for (const [name, { family, json }] of now) {
    if (full || sent.get(name) !== json) {
      changed.push(family);
      sent.set(name, json);
    }
  }
  const removed: string[] = [];
  for (const name of sent.keys()) {
    if (now.has(name)) continue;
    sent.delete(name);
    removed.push(name);
  }
  return { changed, removed: full ? [] : removed };
}

let client: PromClient | undefined;
/** require.cache's size when the app's prom-client was last looked for and not found. */
let searchedAt = -1;

async function collect(): Promise<unknown[]> {
  if (!client) {
    // Until the app loads prom-client (or forever, if it never does), look again only when the
    // module cache grew: a push then costs nothing in an app without metrics.
    const size = Object.keys(require.cache).length;
    if (size === searchedAt) return [];
    client = appPromClient();
    searchedAt = size;
    if (!client) return [];
  }
  return await client.register.getMetricsAsJSON();
}

/**
 * The prom-client instance the app uses, if it loaded one: the copy `require('prom-client')`
 * resolves to from the app's directory, else any copy in the module cache (an app that loads
 * it from a workspace package). Never sockrun's own: the master loads that one, not workers.
 */
export function appPromClient(cache: NodeJS.Dict<NodeModule> = require.cache, main = process.argv[1]): PromClient | undefined {
  const paths = [process.cwd(), ...(main ? [path.dirname(path.resolve(main))] : [])];
  let file: string | undefined;
  try {
    file = require.resolve('prom-client', { paths });
  } catch {
    // Not installed where the app would find it; it may still be loaded from elsewhere.
  }
  const candidates = [...(file ? [cache[file]] : []), ...Object.entries(cache)
    .filter(([key]) => /[\\/]node_modules[\\/]prom-client[\\/]index\.js$/.test(key))
    .map(([, mod]) => mod)];
  for (const mod of candidates) {
    const exports = mod?.exports as Partial<PromClient> | undefined;
    if (typeof exports?.register?.getMetricsAsJSON === 'function') return exports as PromClient;
  }
  return undefined;
}
