/**
 * GET /metrics on a real sockrun with real workers: sockrun's counts and the app's own
 * prom-client metrics, across reloads, crashes and a worker that stops answering.
 */
import * as path from 'node:path';
import { FIXTURES, Sockrun, cleanup, eventually, freePort, request, sleep } from '../helpers/sockrun';
import { PROMETHEUS_ACCEPT, cumulativeSamples, sample, scrape, wentDown } from '../helpers/prometheus';

const app = path.join(FIXTURES, 'metrics', 'app.js');
const hello = path.join(FIXTURES, 'hello.js');
afterEach(cleanup);

async function start(args: string[], fixture = app): Promise<{ s: Sockrun; port: number; admin: number }> {
  const port = await freePort();
  const admin = await freePort();
  const s = new Sockrun(['-l', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, ...args, fixture]);
  await s.ready();
  return { s, port, admin };
}

/** `n` requests, one connection each. */
async function requests(port: number, n: number, pathName = '/'): Promise<void> {
  for (let i = 0; i < n; i++) expect((await request({ port }, pathName)).status).toBe(200);
}

describe('GET /metrics', () => {
  test("sums the app's own prom-client metrics over the workers, next to sockrun's counts from the pings", async () => {
    const { port, admin } = await start(['-w', '2', '--ping-interval', '100ms', '--metrics-interval', '100ms']);
    await requests(port, 40);
    await sleep(300);
    const { status, body, headers } = await scrape(admin);
    expect(status).toBe(200);
    expect(headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(sample(body, 'app_requests_total{path="/"}')).toBe(40);
    expect(sample(body, 'app_request_duration_seconds_count')).toBe(40);
    expect(sample(body, 'sockrun_requests_total')).toBe(40);
    expect(sample(body, 'sockrun_connections_total')).toBe(40);
    expect(sample(body, 'sockrun_workers{state="LISTENING"}')).toBe(2);
    expect(sample(body, 'sockrun_worker_resident_memory_bytes{worker="0"}')).toBeGreaterThan(1e6);
    expect(sample(body, 'sockrun_worker_resident_memory_bytes{worker="1"}')).toBeGreaterThan(1e6);
    expect(sample(body, 'sockrun_scrape_worker_errors_total')).toBe(0);
    // The app's default metrics keep their names: summed (CPU) or by prom-client's own rule.
    expect(sample(body, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(body).not.toMatch(/^process_start_time_seconds /m); // aggregator 'omit'
    expect(sample(body, 'sockrun_master_process_resident_memory_bytes')).toBeGreaterThan(1e6);
  });

  test('answers OpenMetrics to what Prometheus asks for', async () => {
    const { admin } = await start(['-w', '1']);
    const { headers, body } = await scrape(admin, PROMETHEUS_ACCEPT);
    expect(headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(body).toContain('# TYPE sockrun_worker_starts counter\nsockrun_worker_starts_total 1\n');
    expect(body.endsWith('\n# EOF\n')).toBe(true);
  });

  test('an app without prom-client: sockrun metrics only, no error', async () => {
    const { admin } = await start(['-w', '2'], hello);
    const { body } = await scrape(admin);
    expect(body).not.toMatch(/^(app_|process_|nodejs_)/m);
    expect(sample(body, 'sockrun_scrape_worker_errors_total')).toBe(0);
  });

  test('a reload loses no count, with no scrape before it and the last ping long ago: draining workers send their final counts', async () => {
    // Pings every 30 s: after the one at boot, only the final ping of a drain can carry counts.
    const { s, port, admin } = await start(['-w', '2', '--ping-interval', '30s', '--hang-timeout', '0']);
    await requests(port, 30);
    s.signal('SIGHUP');
    await s.waitFor('reload complete', 20_000);
    const { body } = await scrape(admin);
    expect(sample(body, 'sockrun_requests_total')).toBe(30);
    expect(sample(body, 'sockrun_connections_total')).toBe(30);
    expect(sample(body, 'app_requests_total{path="/"}')).toBe(30);
    expect(sample(body, 'app_request_duration_seconds_bucket{le="+Inf"}')).toBe(30);
    expect(sample(body, 'sockrun_worker_exits_total{reason="reload"}')).toBe(2);
    expect(sample(body, 'sockrun_reloads_total{result="success"}')).toBe(1);
    expect(sample(body, 'sockrun_reload_duration_seconds_count')).toBe(1);
    expect(sample(body, 'sockrun_generation')).toBe(2);
    expect(sample(body, 'sockrun_worker_starts_total')).toBe(4);
  });

  test('no counter goes backwards when a worker is killed, crashes or is replaced, scrape after scrape', async () => {
    const { s, port, admin } = await start(['-w', '2', '--ping-interval', '100ms', '--metrics-interval', '100ms']);
    let before = cumulativeSamples((await scrape(admin)).body);
    const check = async () => {
      const after = cumulativeSamples((await scrape(admin)).body);
      expect(wentDown(before, after)).toEqual([]);
      before = after;
    };
    await requests(port, 20);
    await sleep(250);
    await check();
    const [victim] = s.workerPids();
    process.kill(victim, 'SIGKILL');
    await s.waitFor((l) => l.msg === 'worker died' && l.workerPid === victim);
    await check();
    await request({ port }, '/crash').catch(() => undefined);
    await s.waitFor((l) => l.msg === 'worker died' && l.reason === 'crash');
    await check();
    await s.waitFor((l) => l.msg === 'worker listening' && Number(l.generation) === 1 && s.lines.filter((x) => x.msg === 'worker listening').length >= 4, 20_000);
    await requests(port, 20);
    await sleep(250);
    await check();
    // The app's counts arrive with the workers' pushes: at most one --metrics-interval late.
    const body = await eventually(async () => {
      const b = (await scrape(admin)).body;
      return (sample(b, 'app_requests_total{path="/"}') ?? 0) >= 20 && (sample(b, 'sockrun_requests_total') ?? 0) >= 40 ? b : '';
    }, 5000, 'the last requests in the app\'s counter');
    expect(sample(body, 'sockrun_worker_exits_total{reason="signal"}')).toBe(1);
    expect(sample(body, 'sockrun_worker_exits_total{reason="crash"}')).toBe(1);
  });

  test('a worker that stops pushing makes scrapes partial, never slow or failed: its last values stand in, errors counted', async () => {
    const { s, port, admin } = await start(['-w', '2', '--ping-interval', '100ms', '--metrics-interval', '100ms', '--hang-timeout', '0']);
    await requests(port, 20);
    await sleep(300);
    const first = await scrape(admin);
    const [stopped] = s.workerPids();
    process.kill(stopped, 'SIGSTOP');
    try {
      const during = await scrape(admin); // answered from what was pushed: the stopped worker is not asked
      expect(during.status).toBe(200);
      expect(sample(during.body, 'app_requests_total{path="/"}')).toBe(20);
      await sleep(1500); // behind by more than three push intervals (and the 1 s floor)
      const partial = await scrape(admin);
      expect(partial.status).toBe(200);
      expect(sample(partial.body, 'sockrun_scrape_worker_errors_total')).toBeGreaterThanOrEqual(1);
      expect(sample(partial.body, 'app_requests_total{path="/"}')).toBe(20);
      expect(wentDown(cumulativeSamples(first.body), cumulativeSamples(partial.body))).toEqual([]);
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
    await sleep(500);
    const healed = await scrape(admin);
    const errors = sample(healed.body, 'sockrun_scrape_worker_errors_total');
    await sleep(300);
    expect(sample((await scrape(admin)).body, 'sockrun_scrape_worker_errors_total')).toBe(errors);
  });
});
