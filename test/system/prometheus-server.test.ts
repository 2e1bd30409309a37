/**
 * A real Prometheus server scrapes a real sockrun's admin port every second (OpenMetrics, as
 * Prometheus negotiates it), and its HTTP API answers what an operator would ask: is it up, how
 * many workers, are connections counted under load, was a killed worker seen, and did any
 * counter reset across a reload (it must not).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES, Sockrun, cleanup, freePort, request, sleep, startLoad } from '../helpers/sockrun';
import { DASHBOARD, PrometheusServer, describeWithTools } from '../helpers/prometheus';

const app = path.join(FIXTURES, 'metrics', 'app.js');

describeWithTools('a real Prometheus scraping sockrun', ['prometheus'], () => {
  let s: Sockrun;
  let port: number;
  let prom: PrometheusServer;

  beforeAll(async () => {
    port = await freePort();
    const admin = await freePort();
    s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--ping-interval', '250ms', app]);
    await s.ready();
    prom = await PrometheusServer.start([`127.0.0.1:${admin}`]);
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    await cleanup();
  });

  test('up == 1 and the worker count', async () => {
    await prom.waitFor('up{job="sockrun"}', (v) => v === 1);
    expect(await prom.value('sockrun_workers{state="LISTENING"}')).toBe(2);
    expect(await prom.value('sockrun_workers_target')).toBe(2);
    expect(await prom.value('sockrun_ready')).toBe(1);
    expect(await prom.value('count(sockrun_worker_resident_memory_bytes)')).toBe(2);
  });

  test('sockrun_connections_total rises under load', async () => {
    const before = (await prom.value('sockrun_connections_total')) ?? 0;
    const load = startLoad(port, { concurrency: 4 });
    try {
      await prom.waitFor('sockrun_connections_total', (v) => v !== undefined && v > before + 200, 20_000);
      await prom.waitFor('rate(sockrun_connections_total[5s])', (v) => v !== undefined && v > 10);
    } finally {
      expect((await load.stop()).failed).toBe(0);
    }
    // The app's counter arrives with the workers' pushes (at most one --metrics-interval old), then
    // the next scrape: up to ~2 s after sockrun's own counters, which come with the pings.
    await prom.waitFor('app_requests_total{path="/"}', (v) => v !== undefined && v > 200);
  });

  test('a worker killed with SIGKILL shows as an exit by signal, and is replaced', async () => {
    const [victim] = s.workerPids();
    process.kill(victim, 'SIGKILL');
    await prom.waitFor('sockrun_worker_exits_total{reason="signal"}', (v) => v === 1);
    await prom.waitFor('sockrun_workers{state="LISTENING"}', (v) => v === 2);
    expect(await prom.value('sockrun_worker_starts_total')).toBe(3);
  });

  test('a reload under load (and the kill before it) resets no counter: resets(...) == 0 for every counter, histogram and summary series', async () => {
    const load = startLoad(port, { concurrency: 4 });
    // Prometheus has seen the old generation serving (its first scrape comes ~5 s after start).
    const before = (await prom.value('sockrun_requests_total')) ?? 0;
    await prom.waitFor('sockrun_requests_total', (v) => v !== undefined && v > before + 100, 20_000);
    s.signal('SIGHUP');
    await s.waitFor('reload complete', 30_000);
    await sleep(2000);
    const r = await load.stop();
    expect(r.failed).toBe(0);
    await prom.waitFor('sockrun_reloads_total{result="success"}', (v) => v === 1);
    await prom.waitFor('sockrun_worker_exits_total{reason="reload"}', (v) => v === 2);
    await sleep(2500); // a couple more scrapes after the rollout

    for (const name of ['sockrun_connections_total', 'sockrun_requests_total', 'app_requests_total', 'app_request_duration_seconds_count', 'process_cpu_seconds_total']) {
      const [series] = await prom.query(`resets(${name}[10m])`);
      expect([name, series && Number(series.value[1])]).toEqual([name, 0]);
    }
    // Every cumulative series Prometheus holds for the job, by the type sockrun declared.
    const cumulative = await cumulativeSeries(prom);
    expect(cumulative).toEqual(expect.arrayContaining(['sockrun_connections_total', 'sockrun_worker_exits_total', 'sockrun_reload_duration_seconds_bucket', 'app_requests_total', 'app_request_duration_seconds_bucket', 'nodejs_gc_duration_seconds_count']));
    const reset: string[] = [];
    let checked = 0;
    for (const name of cumulative) {
      checked += (await prom.query(`resets({__name__="${name}", job="sockrun"}[10m])`)).length;
      for (const series of await prom.query(`resets({__name__="${name}", job="sockrun"}[10m]) > 0`)) reset.push(`${name}${JSON.stringify(series.metric)}`);
    }
    expect(reset).toEqual([]);
    console.log(`resets(...[10m]) == 0 for all ${checked} series of ${cumulative.length} cumulative metrics, across a SIGKILL and a reload under load `
      + `(${r.ok} requests answered during the reload; sockrun_requests_total ${await prom.value('sockrun_requests_total')}, app_requests_total ${await prom.value('sum(app_requests_total)')})`);
    // The counts survived: everything the clients saw answered is counted once.
    expect(await prom.value('sockrun_requests_total')).toBeGreaterThanOrEqual(r.ok);
    expect(await prom.value('sockrun_generation')).toBe(2);
  }, 90_000);

  test('reports its scrape latency', async () => {
    const avg = await prom.value('avg_over_time(scrape_duration_seconds{job="sockrun"}[10m])');
    const max = await prom.value('max_over_time(scrape_duration_seconds{job="sockrun"}[10m])');
    const scrapes = await prom.value('count_over_time(scrape_duration_seconds{job="sockrun"}[10m])');
    console.log(`Prometheus' view of GET /metrics (2 workers, ${scrapes} scrapes, OpenMetrics): mean ${(avg! * 1000).toFixed(1)} ms, max ${(max! * 1000).toFixed(1)} ms`);
    expect(await prom.value('max_over_time(sockrun_scrape_worker_errors_total[10m])')).toBe(0);
    expect(await prom.value('min_over_time(up{job="sockrun"}[10m])')).toBe(1);
    expect(max!).toBeLessThan(1);
  });

  test('the alert rules load into the server', async () => {
    const r = await request({ port: prom.port }, '/api/v1/rules');
    const groups = JSON.parse(r.body).data.groups as { rules: { name: string; health: string; lastError?: string }[] }[];
    const rules = groups.flatMap((g) => g.rules);
    expect(rules.map((x) => x.name).sort()).toEqual(['SockrunNotReady', 'SockrunReloadFailed', 'SockrunScrapePartial', 'SockrunWorkerCrashLoop', 'SockrunWorkerHangKills']);
    expect(rules.filter((x) => x.health !== 'ok')).toEqual([]);
  });

  test('every query of the Grafana dashboard answers with data', async () => {
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
    const exprs: string[] = [
      ...dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.annotations.list.filter((a: { expr?: string }) => a.expr).map((a: { expr: string }) => a.expr),
    ];
    expect(exprs.length).toBeGreaterThan(20);
    const empty: string[] = [];
    for (const expr of exprs) {
      const concrete = expr
        .replace(/\$__rate_interval/g, '5s')
        .replace(/\$__range/g, '10m')
        .replace(/\$job/g, 'sockrun')
        .replace(/\$instance/g, '.*');
      const result = await prom.query(concrete);
      // The reload annotation only has data right at a reload; the others always do.
      if (result.length === 0 && !expr.startsWith('changes(sockrun_generation')) empty.push(expr);
    }
    expect(empty).toEqual([]);
  });
});

/** Names of the counter, histogram and summary series of the job, from Prometheus' metadata. */
async function cumulativeSeries(prom: PrometheusServer): Promise<string[]> {
  const metadata = JSON.parse((await request({ port: prom.port }, '/api/v1/metadata')).body).data as Record<string, { type: string }[]>;
  const names = JSON.parse((await request({ port: prom.port }, `/api/v1/label/__name__/values?match[]=${encodeURIComponent('{job="sockrun"}')}`)).body).data as string[];
  const typeOf = (name: string) => (metadata[name] ?? metadata[name.replace(/_(total|bucket|count|sum|created)$/, '')])?.[0]?.type;
  return names.filter((n) => {
    const type = typeOf(n);
    if (type === 'counter' || type === 'histogram') return true;
    return type === 'summary' && /_(sum|count)$/.test(n);
  });
}
