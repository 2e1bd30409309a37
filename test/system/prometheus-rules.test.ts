/**
 * promtool on what sockrun ships: `promtool check metrics` on a real scrape, `promtool check
 * rules` and `promtool test rules` on deploy/prometheus/; and the names the README, the alert
 * rules and the Grafana dashboard use against the names a real sockrun serves.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES, Sockrun, cleanup, freePort, request, sleep } from '../helpers/sockrun';
import { DASHBOARD, ROOT, RULES, RULE_TESTS, describeWithTools, familyNames, promtool, scrape } from '../helpers/prometheus';

const app = path.join(FIXTURES, 'metrics', 'app.js');
const hello = path.join(FIXTURES, 'hello.js');

/** A scrape of a sockrun that went through recycles and a reload, so every metric has values. */
async function scrapeAfterALife(fixture: string): Promise<string> {
  const port = await freePort();
  const admin = await freePort();
  const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--recycle-requests', '15', '--ping-interval', '100ms', fixture]);
  await s.ready();
  for (let i = 0; i < 40; i++) await request({ port }, '/');
  await s.waitFor('worker due for recycling');
  s.signal('SIGHUP');
  await s.waitFor('reload complete', 30_000);
  await sleep(300);
  const { body } = await scrape(admin);
  await cleanup();
  return body;
}

describeWithTools('promtool', ['promtool'], () => {
  test('the alert rules pass promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/SUCCESS: 5 rules found/);
    expect(r.code).toBe(0);
  });

  test('the alert rules pass their unit tests (promtool test rules)', () => {
    const r = promtool(['test', 'rules', path.basename(RULE_TESTS)].map((a, i) => (i === 2 ? RULE_TESTS : a)));
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });

  test("sockrun's own output passes promtool check metrics without a single problem", async () => {
    const body = await scrapeAfterALife(hello);
    expect(body).toMatch(/^sockrun_worker_recycles_total\{reason="requests"\} [1-9]/m);
    expect(body).toMatch(/^sockrun_reload_duration_seconds_count 1$/m);
    const r = promtool(['check', 'metrics'], body);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);

  test("with the app's own metrics aggregated in: no parse error, and nothing to say but about prom-client's own default names", async () => {
    const body = await scrapeAfterALife(app);
    expect(body).toMatch(/^app_requests_total\{path="\/"\} 40$/m);
    const r = promtool(['check', 'metrics'], body);
    const problems = (r.stdout + r.stderr).split('\n').filter(Boolean);
    // prom-client names three gauges nodejs_active_*_total; the app's metrics keep the app's names.
    expect(problems.filter((p) => !/^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(p))).toEqual([]);
  }, 60_000);
});

describe('names', () => {
  let served: Set<string>;
  beforeAll(async () => {
    served = familyNames(await scrapeAfterALife(app));
  }, 60_000);
  afterAll(cleanup);

  /** Families that a sample name in a query or a rule belongs to. */
  const isServed = (name: string) => served.has(name) || served.has(name.replace(/_(bucket|sum|count)$/, ''));
  const metricNamesIn = (expr: string) => [...expr.matchAll(/\b((?:sockrun|app)_[a-z_]+)\b/g)].map((m) => m[1]);

  test("every sockrun_ metric is in docs/metrics.md's table, and the table lists nothing else", () => {
    const readme = fs.readFileSync(path.join(ROOT, 'docs', 'metrics.md'), 'utf8');
    const documented = new Set([...readme.matchAll(/^\| `(sockrun_[a-z_]+)` \|/gm)].map((m) => m[1]));
    const ours = [...served].filter((n) => n.startsWith('sockrun_') && !n.startsWith('sockrun_master_'));
    expect(ours.filter((n) => !documented.has(n))).toEqual([]);
    expect([...documented].filter((n) => !served.has(n))).toEqual([]);
    // The master's own metrics are documented as a group; the ones named there exist.
    const named = [...readme.matchAll(/`(sockrun_master_[a-z_]+)`/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((n) => !served.has(n))).toEqual([]);
  });

  test('the alert rules and the dashboard use only names sockrun serves', () => {
    const used = [
      ...metricNamesIn(fs.readFileSync(RULES, 'utf8').split('\n').filter((l) => /^\s*expr:/.test(l)).join('\n')),
      ...metricNamesIn(JSON.stringify(collectExprs(JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'))))),
    ];
    expect(used.length).toBeGreaterThan(20);
    expect([...new Set(used)].filter((n) => !isServed(n))).toEqual([]);
  });

  test('the dashboard is well-formed: unique panel ids, no overlap on the 24-column grid, every query on the chosen data source', () => {
    const d = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
    expect(d.uid).toBe('sockrun');
    const ids = d.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of d.panels as { title: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: { datasource: { uid: string }; expr: string; refId: string }[] }[]) {
      const { x, y, w, h } = p.gridPos;
      expect([p.title, x + w <= 24]).toEqual([p.title, true]);
      for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
        expect([p.title, cells.has(`${i},${j}`)]).toEqual([p.title, false]);
        cells.add(`${i},${j}`);
      }
      for (const t of p.targets ?? []) {
        expect(t.datasource.uid).toBe('${datasource}');
        expect(t.expr).toMatch(/job="\$job", instance=~"\$instance"/);
      }
    }
    expect(d.templating.list.map((v: { name: string }) => v.name)).toEqual(['datasource', 'job', 'instance']);
  });
});

function collectExprs(dashboard: { panels: { targets?: { expr: string }[] }[]; annotations: { list: { expr?: string }[] }; templating: { list: { definition?: string }[] } }): string[] {
  return [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.annotations.list.flatMap((a) => (a.expr ? [a.expr] : [])),
    ...dashboard.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])),
  ];
}
