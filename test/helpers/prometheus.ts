/**
 * Test helpers for the metrics: scrape sockrun's admin port, read samples out of the text
 * format, run the real `promtool`, and run a real Prometheus server (a foreground child on
 * loopback with a temporary config and storage, stopped by pid).
 *
 * `prometheus` and `promtool` come from Debian's prometheus package (.ci/run installs it).
 * Where they are missing, tests skip with a loud warning; under CI=true they fail instead.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Reply, eventually, freePort, request, sleep } from './sockrun';

export const ROOT = path.resolve(__dirname, '..', '..');
export const RULES = path.join(ROOT, 'deploy', 'prometheus', 'sockrun-rules.yml');
export const RULE_TESTS = path.join(ROOT, 'deploy', 'prometheus', 'sockrun-rules.test.yml');
export const DASHBOARD = path.join(ROOT, 'deploy', 'grafana', 'sockrun-dashboard.json');

/** What Prometheus 2.x sends when it scrapes: OpenMetrics first. */
export const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/** The path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * `describe` when every tool in `tools` is installed. Otherwise: outside CI, `describe.skip`
 * after a loud console.warn; in CI (CI=true), a describe whose single test fails.
 */
export function describeWithTools(title: string, tools: string[], body: () => void): void {
  const missing = tools.filter((t) => !which(t));
  if (missing.length === 0) return describe(title, body);
  const message = `SYSTEM TESTS NOT RUN — "${title}": ${missing.join(' and ')} not installed (apt-get install prometheus; .ci/run does)`;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    describe(title, () => test(`${missing.join(', ')} installed (required in CI)`, () => {
      throw new Error(message);
    }));
    return;
  }
  console.warn(`\n${'!'.repeat(100)}\n${message}\n${'!'.repeat(100)}\n`);
  describe.skip(title, body);
}

export interface Scraped extends Reply {
  /** Wall time of the request, milliseconds. */
  ms: number;
}

/** GET /metrics on the admin port. */
export async function scrape(port: number, accept?: string): Promise<Scraped> {
  const started = process.hrtime.bigint();
  const r = await request({ port }, '/metrics', accept ? { headers: { accept } } : {});
  return { ...r, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

/**
 * The value of one sample in the text format: `name` is the sample name with its labels as
 * written by prom-client (`sockrun_workers{state="LISTENING"}`); undefined when absent.
 */
export function sample(body: string, name: string): number | undefined {
  for (const line of body.split('\n')) {
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1).split(' ')[0]);
  }
  return undefined;
}

/** Every family name a scrape declares (`# TYPE name type`). */
export function familyNames(body: string): Set<string> {
  return new Set([...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
}

/** Every sample line of counters (`_total`, histogram and summary `_bucket/_sum/_count`), name with labels → value. */
export function cumulativeSamples(body: string): Map<string, number> {
  const types = new Map([...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
  const out = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    const series = line.slice(0, at);
    const name = series.replace(/\{.*$/, '');
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    const type = types.get(family);
    const cumulative = type === 'counter' || type === 'histogram' || (type === 'summary' && family !== name);
    if (cumulative) out.set(series, Number(line.slice(at + 1)));
  }
  return out;
}

/** The series whose value went down from `before` to `after` (a counter reset as Prometheus sees it). */
export function wentDown(before: Map<string, number>, after: Map<string, number>, ignore: RegExp = /^sockrun_master_/): string[] {
  const down: string[] = [];
  for (const [series, v] of before) {
    if (ignore.test(series)) continue;
    const now = after.get(series);
    if (now === undefined || now < v) down.push(`${series}: ${v} -> ${now}`);
  }
  return down;
}

/** `promtool args…` with `input` on stdin. */
export function promtool(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface QueryResult {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * A real Prometheus server scraping `targets` every second, on loopback, with a temporary
 * config and TSDB; the alert rules of deploy/prometheus/ are loaded too.
 */
export class PrometheusServer {
  private constructor(readonly child: ChildProcess, readonly port: number, readonly dir: string, private readonly log: { text: string }) {}

  static async start(targets: string[], { rules = [RULES] }: { rules?: string[] } = {}): Promise<PrometheusServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-prometheus-'));
    const port = await freePort();
    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(config, [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      `rule_files: [${rules.map((r) => JSON.stringify(r)).join(', ')}]`,
      'scrape_configs:',
      '  - job_name: sockrun',
      '    static_configs:',
      `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'));
    const child = spawn('prometheus', [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = { text: '' };
    child.stdout!.on('data', (d) => (log.text += d));
    child.stderr!.on('data', (d) => (log.text += d));
    const server = new PrometheusServer(child, port, dir, log);
    try {
      await eventually(async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log.text}`);
        return (await request({ port }, '/-/ready').catch(() => ({ status: 0 }))).status === 200;
      }, 30_000, 'prometheus to be ready');
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get output(): string {
    return this.log.text;
  }

  /** An instant query through the HTTP API. */
  async query(expr: string): Promise<QueryResult[]> {
    const r = await request({ port: this.port }, `/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = JSON.parse(r.body) as { status: string; error?: string; data: { resultType: string; result: QueryResult[] } };
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
    return body.data.result;
  }

  /** The value of a query that yields one sample; undefined when it yields none. */
  async value(expr: string): Promise<number | undefined> {
    const result = await this.query(expr);
    if (result.length > 1) throw new Error(`query ${expr}: ${result.length} samples, expected one`);
    return result.length ? Number(result[0].value[1]) : undefined;
  }

  /** Polls `expr` until `test(value)` holds; returns that value. */
  async waitFor(expr: string, test: (v: number | undefined) => boolean, timeoutMs = 20_000): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    let last: number | undefined;
    for (;;) {
      last = await this.value(expr);
      if (test(last)) return last;
      if (Date.now() > deadline) throw new Error(`timed out waiting on ${expr}: last value ${last}\n${this.log.text.slice(-2000)}`);
      await sleep(250);
    }
  }

  /** Stops the server (by its pid) and removes its files. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
