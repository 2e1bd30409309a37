/**
 * The status page on the admin port (issue 18), seen in a real headless chromium: it follows a
 * reload to the new generation's pids, shows an app's boot error as text however much markup it
 * holds, and GET /status says what `sockrun status --json` says plus the rest, with no secret.
 *
 * `SOCKRUN_SCREENSHOT=docs/status-page.png npx jest test/integration/status-page.test.ts` also
 * takes the README's screenshot.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { call, get, startAdmin } from '../helpers/admin-helpers';
import { collectErrors, launchBrowser } from '../helpers/browser';
import { CLI, FIXTURES, ROOT, cleanup, eventually, request } from '../helpers/sockrun';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(cleanup);

/** The fixture app copied beside a package.json of its own, as a deployed service would be. */
function deployApp(version = '1.2.3'): { app: string; pkg: string; breakFile: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-status-'));
  const app = path.join(dir, 'server.js');
  fs.copyFileSync(path.join(FIXTURES, 'status', 'app.js'), app);
  const pkg = path.join(dir, 'package.json');
  fs.writeFileSync(pkg, JSON.stringify({ name: 'shop-api', version, private: true }));
  return { app, pkg, breakFile: path.join(dir, 'break') };
}

async function start(opts: { env?: NodeJS.ProcessEnv; appArgs?: string[]; workers?: number } = {}) {
  const deployed = deployApp();
  const started = await startAdmin([], { ...opts, app: deployed.app, env: { BREAK_FILE: deployed.breakFile, ...opts.env } });
  await started.s.ready();
  return { ...started, ...deployed };
}

async function openPage(adminPort: number): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = collectErrors(page);
  await page.goto(`http://127.0.0.1:${adminPort}/?refresh=1`);
  return { page, errors };
}

/** The pids in the page's worker table. */
const pagePids = (page: Page): Promise<number[]> =>
  page.$$eval('#workers tr', (rows) => rows.map((r) => Number(r.children[1]?.textContent)).filter((n) => n > 0).sort((a, b) => a - b));

const sorted = (pids: number[]) => [...pids].sort((a, b) => a - b);
const text = (page: Page, selector: string) => page.$eval(selector, (e) => e.textContent ?? '');

async function pageShowsPids(page: Page, pids: number[]): Promise<void> {
  const want = JSON.stringify(sorted(pids));
  await eventually(async () => JSON.stringify(await pagePids(page)) === want, 15_000, `the page to list workers ${want}`);
}

test('the page lists every worker; after a SIGHUP it shows the new generation\'s pids, the reload and the old workers\' exits', async () => {
  const { s, admin, pkg } = await start();
  const { page, errors } = await openPage(admin.port!);
  const first = s.workerPids();
  expect(first).toHaveLength(2);
  await pageShowsPids(page, first);
  expect(await text(page, '#generation')).toBe('1');
  expect(await text(page, '#state')).toBe('READY');
  expect(await text(page, '#app')).toBe('shop-api@1.2.3');
  expect(await text(page, '#versions')).toContain(`Node ${process.version}`);
  expect(await text(page, '#reloads')).toBe('no reload since the master started');

  // A new release: its package.json says 1.2.4.
  fs.writeFileSync(pkg, JSON.stringify({ name: 'shop-api', version: '1.2.4' }));
  s.signal('SIGHUP');
  await s.waitFor('reload complete');
  const second = s.workerPids();
  expect(second).toHaveLength(2);
  expect(second.filter((p) => first.includes(p))).toEqual([]);
  await pageShowsPids(page, second);
  expect(await text(page, '#generation')).toBe('2');
  expect(await text(page, '#app')).toBe('shop-api@1.2.4');
  const reload = await page.$$eval('#reloads tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
  expect(reload).toHaveLength(1);
  expect(reload[0][1]).toBe('ok');
  expect(reload[0][3]).toBe('2');
  expect(reload[0][4]).toBe('generation 2 serving');
  const exits = await page.$$eval('#exits tr', (rows) => rows.map((r) => [Number(r.children[2].textContent), r.children[4].textContent]));
  expect(exits.map(([pid]) => pid).sort()).toEqual(sorted(first));
  expect(exits.every(([, reason]) => reason === 'reload')).toBe(true);
  // The page's own script and style ran under its Content-Security-Policy, without complaint.
  expect(errors).toEqual([]);
  await page.close();
});

test('a boot error full of markup is shown as text: no element, no script from the app; the old release\'s version stays', async () => {
  const { s, admin, breakFile, pkg } = await start();
  const { page, errors } = await openPage(admin.port!);
  await pageShowsPids(page, s.workerPids());
  const evil = '<b>bold</b> & <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>';
  fs.writeFileSync(breakFile, evil);
  fs.writeFileSync(pkg, JSON.stringify({ name: 'shop-api', version: '9.9.9-broken' }));
  s.signal('SIGHUP');
  await s.waitFor('reload aborted; the previous workers keep serving');

  const cell = await eventually(async () => page.$$eval('#exits tr', (rows) => rows.map((r) => r.children[7]?.textContent ?? '').find((t) => t !== '')), 15_000, 'the boot error on the page');
  expect(cell).toBe(evil);
  const reload = await eventually(() => page.$$eval('#reloads tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent))[0]), 15_000, 'the aborted reload');
  expect(reload[1]).toBe('aborted');
  expect(reload[4]).toContain(evil);
  // The app's text made no element and ran nothing.
  expect(await page.$$('main b, main img, main script')).toHaveLength(0);
  expect(await page.evaluate('window.__pwned')).toBeUndefined();
  expect(await text(page, '#state')).toBe('READY');
  expect(await text(page, '#app')).toBe('shop-api@1.2.3');
  expect(errors).toEqual([]);
  // The JSON carries it verbatim, for scripts.
  const status = JSON.parse((await get(admin, '/status')).body);
  expect(status.history.exits[0]).toMatchObject({ reason: 'boot_failure', bootError: evil, generation: 2 });
  await page.close();
});

test('GET /status is `sockrun status --json` plus readiness, sockets\' sources, history and versions; neither it nor the page holds the environment or the app\'s arguments', async () => {
  const secret = 'hunter2-do-not-show';
  const { s, admin, app, appPort } = await start({ env: { SHOP_DB_PASSWORD: secret }, appArgs: ['--db-password', secret] });
  const cli = JSON.parse((await promisify(execFile)(process.execPath, [CLI, 'status', '--pid', String(s.pid), '--json'])).stdout);
  const r = await get(admin, '/status');
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(r.headers['cache-control']).toBe('no-store');
  const status = JSON.parse(r.body);
  for (const key of Object.keys(cli)) expect(status).toHaveProperty(key);
  expect(status.pid).toBe(cli.pid);
  expect(sorted(status.workers.map((w: { pid: number }) => w.pid))).toEqual(sorted(cli.workers.map((w: { pid: number }) => w.pid)));
  expect(status.app).toBe(app);
  expect(status.versions).toEqual({ sockrun: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version, node: process.version, app: { name: 'shop-api', version: '1.2.3' } });
  expect(status.readiness).toEqual({ ok: true, checks: expect.arrayContaining([{ name: 'workers', ok: true, message: '2/2 workers ready' }]) });
  expect(status.liveness.ok).toBe(true);
  expect(status.sockets).toEqual([expect.objectContaining({ fd: 3, address: `127.0.0.1:${appPort}`, source: `--listen 127.0.0.1:${appPort}` })]);
  expect(status.history).toEqual({ reloads: [], exits: [], reloadsTotal: 0, exitsTotal: 0, limits: { reloads: 50, exits: 100 } });
  expect(status.workers[0]).toMatchObject({ recycleDue: null, drainReason: null });

  const page = await get(admin, '/');
  for (const body of [r.body, page.body]) {
    expect(body).not.toContain(secret);
    expect(body).not.toContain('SHOP_DB_PASSWORD');
  }
  expect(JSON.stringify(status)).not.toContain('--db-password');
});

test('the page is one self-contained document: no external asset, a CSP that allows only its own code, read-only methods', async () => {
  const { admin } = await start();
  const r = await get(admin, '/');
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(r.headers['x-content-type-options']).toBe('nosniff');
  expect(r.headers['x-frame-options']).toBe('DENY');
  const csp = r.headers['content-security-policy'] as string;
  expect(csp).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[A-Za-z0-9+/=]+'; connect-src 'self';/);
  expect(csp).not.toContain('unsafe');
  // Nothing from elsewhere: no http(s) URL, no protocol-relative one, anywhere in the page.
  expect(r.body).not.toMatch(/https?:|["'(]\/\//);
  expect((await call(admin, 'HEAD', '/')).body).toBe('');
  const post = await call(admin, 'POST', '/');
  expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
  expect((await call(admin, 'PUT', '/status')).status).toBe(405);
  for (const p of ['/index.html', '/status/', '/status.html', '//', '/status.json']) expect((await get(admin, p)).status).toBe(404);
});

(process.env.SOCKRUN_SCREENSHOT ? test : test.skip)('the README\'s screenshot: a fleet after a reload and an aborted one', async () => {
  const { s, admin, appPort, pkg, breakFile } = await start({ workers: 4 });
  for (let i = 0; i < 40; i++) await request({ port: appPort }, '/');
  fs.writeFileSync(breakFile, "Cannot find module './routes/orders'\nRequire stack:\n- /srv/shop-api/releases/42/server.js");
  s.signal('SIGHUP');
  await s.waitFor('reload aborted; the previous workers keep serving');
  fs.rmSync(breakFile);
  fs.writeFileSync(pkg, JSON.stringify({ name: 'shop-api', version: '1.2.4' }));
  s.signal('SIGHUP');
  await s.waitFor('reload complete');
  for (let i = 0; i < 57; i++) await request({ port: appPort }, '/');
  const { page } = await openPage(admin.port!);
  await pageShowsPids(page, s.workerPids());
  await new Promise((r) => setTimeout(r, 2500));
  await page.screenshot({ path: path.resolve(ROOT, process.env.SOCKRUN_SCREENSHOT!), fullPage: true });
  await page.close();
});
