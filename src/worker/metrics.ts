/**
 * The worker's side of the app's own metrics (DESIGN §7). When the master asks
 * (`sockrun:collect-metrics`), the worker answers with the app's prom-client default registry as
 * JSON (`register.getMetricsAsJSON()`); the master aggregates every worker's answer into one
 * scrape (metrics/app.ts). On a drain, once the servers closed, it sends its final values
 * (`sockrun:metrics-final`) so the counts since the last scrape are not lost.
 *
 * Only a prom-client the app itself loaded is read: it is looked up where the app would find it
 * (its working directory, the directory of its main file) and then in the module cache. Nothing
 * is loaded, in the worker or by sockrun, before the master asks; an app without prom-client
 * answers an empty list. Nothing here runs per request.
 */
import * as path from 'node:path';
import type { MasterMessage, WorkerMessage } from '../protocol';

/** A final report that takes longer than this is given up: the worker is on its way out. */
const FINAL_REPORT_TIMEOUT_MS = 500;

/** The part of prom-client we use, in every version since 10 (sync before 13, async since). */
interface PromClient {
  register: { getMetricsAsJSON(): unknown[] | Promise<unknown[]> };
}

export interface WorkerMetricsHooks {
  onMasterMessage(handler: (m: MasterMessage) => void): void;
  sendToMaster(message: WorkerMessage): void;
  onShutdown(hook: () => unknown): void;
}

/** Answers the master's metrics requests. Called once by installWorkerRuntime. */
export function installWorkerMetrics({ onMasterMessage, sendToMaster, onShutdown }: WorkerMetricsHooks): void {
  let asked = false;
  onMasterMessage((m) => {
    if (m.type !== 'sockrun:collect-metrics') return;
    asked = true;
    collect().then(
      (metrics) => sendToMaster({ type: 'sockrun:metrics', id: m.id, metrics }),
      (err: Error) => sendToMaster({ type: 'sockrun:metrics', id: m.id, metrics: null, error: String(err?.message ?? err) }),
    );
  });
  onShutdown(async () => {
    // Without an admin port nobody ever asks (with one, the master asks as soon as we listen).
    if (!asked) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), FINAL_REPORT_TIMEOUT_MS).unref()));
    try {
      const metrics = await Promise.race([collect(), late]);
      if (metrics) sendToMaster({ type: 'sockrun:metrics-final', metrics });
    } catch {
      // The master keeps the values of the last scrape.
    } finally {
      clearTimeout(timer);
    }
  });
}

let client: PromClient | undefined;

async function collect(): Promise<unknown[]> {
  client ??= appPromClient();
  if (!client) return [];
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
