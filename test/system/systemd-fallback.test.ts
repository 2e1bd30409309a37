/**
 * sd_notify without the native module, under a real systemd 252: the shipped app.socket and
 * app.service with only paths and timeouts changed, plus `TemporaryFileSystem=` over
 * node_modules/unix-dgram so the service sees an empty directory there — a slim image without
 * a compiler, or a Node upgrade without `npm rebuild`. The master then speaks to systemd through
 * systemd-notify, which the shipped NotifyAccess=all accepts.
 */
import { join, resolve } from 'node:path';
import { AppService } from '../helpers/app-service';
import { describeWithSystemd, SystemdSandbox } from '../helpers/systemd-sandbox';

const REPO = resolve(__dirname, '../..');
const APP = join(REPO, 'test/fixtures/systemd/app.js');
const NODE = process.execPath;
const PORT = 18090;
const WORKERS = 2;
const WATCHDOG_SEC = 3;
const HIDDEN = join(REPO, 'node_modules/unix-dgram');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithSystemd('sd_notify without the native module (unix-dgram hidden from the service): the systemd-notify fallback', () => {
  let sd: SystemdSandbox;
  let app: AppService;
  const show = (...p: string[]) => app.show(...p);

  beforeAll(async () => {
    // An empty directory where the module was: a slim image, or an install without a compiler.
    app = await AppService.boot(`fallback-${process.pid}`, {
      port: PORT, args: `--workers ${WORKERS} --graceful-timeout 15s --ping-interval 250ms ${APP}`,
      watchdogSec: WATCHDOG_SEC, environment: '', extra: [`TemporaryFileSystem=${HIDDEN}:ro`],
    });
    sd = app.sd;
  }, 120_000);

  afterAll(async () => {
    if (app) await app.down(40, 400);
  }, 120_000);

  test('the service cannot load unix-dgram, still becomes active (READY=1) and says why in one full warning', async () => {
    const unitProbe = await sd.exec(['systemd-run', '--wait', '--pipe', '-q', `--property=BindReadOnlyPaths=${REPO}`,
      `--property=TemporaryFileSystem=${HIDDEN}:ro`, `--property=WorkingDirectory=${REPO}`,
      NODE, '-e', "try { require('unix-dgram'); console.log('loaded') } catch (e) { console.log(e.code) }"]);
    expect(unitProbe.stdout.trim()).toBe('MODULE_NOT_FOUND'); // the hiding works as intended
    const t0 = Date.now();
    expect(await app.load('once', 1)).toMatchObject({ ok: 1, failed: 0 });
    const p = await app.waitActive();
    console.log(`socket activation to active/running: ${Date.now() - t0} ms`);
    expect(p.StatusText).toMatch(new RegExp(`^READY: ${WORKERS}/${WORKERS} workers ready, generation 1, \\d+ active connections$`));
    const journal = await sd.journal('app.service');
    const warning = journal.split('\n').find((l) => l.includes('sd_notify goes through systemd-notify'));
    expect(warning).toBeDefined();
    expect(warning).toMatch(/because the optional dependency unix-dgram is not installed or failed to load \(Cannot find module 'unix-dgram' Require stack: .*\)\. The unit needs NotifyAccess=all/);
    expect(journal).not.toMatch(/sd_notify is off|reception only permitted for main PID/);
  }, 60_000);

  test('SIGHUP (what Type=notify-reload sends): RELOADING=1 + MONOTONIC_USEC hold the unit in "reload" until READY=1 ends the rollout', async () => {
    const before = await app.waitActive();
    const oldWorkers = await app.workerPids(before.MainPID);
    await sd.signal(before.MainPID, 'HUP');
    await sd.waitForShow('app.service', ['SubState'], (s) => s.SubState === 'reload', 10_000);
    const after = await app.waitActive();
    expect(after.StatusText).toMatch(/^READY: 2\/2 workers ready, generation 2,/);
    // Back to "running" only once the rollout was over: no old worker is left.
    expect((await app.workerPids(after.MainPID)).filter((pid) => oldWorkers.includes(pid))).toEqual([]);
    expect(await sd.journal('app.service')).not.toMatch(/MONOTONIC_USEC|Failed to parse/);
  }, 60_000);

  test('systemctl reload under steady load blocks until every worker is replaced, and no request fails', async () => {
    const before = await app.waitActive();
    const oldWorkers = await app.workerPids(before.MainPID);
    const running = app.load('6000', 8);
    await sleep(1000);
    const t0 = Date.now();
    await sd.systemctl(['reload', 'app.service'], { timeoutMs: 60_000 });
    const reloadMs = Date.now() - t0;
    const after = await show('MainPID', 'SubState', 'StatusText');
    const newWorkers = await app.workerPids(after.MainPID);
    const result = await running;
    console.log(`reload without unix-dgram: systemctl reload returned after ${reloadMs} ms; load ${result.ok} ok / ${result.failed} failed ${JSON.stringify(result.errors)}, generations ${JSON.stringify(result.generations)}`);
    expect(after).toMatchObject({ MainPID: before.MainPID, SubState: 'running' });
    expect(after.StatusText).toMatch(/^READY: 2\/2 workers ready, generation 3,/);
    expect(newWorkers).toHaveLength(WORKERS);
    expect(newWorkers.filter((pid) => oldWorkers.includes(pid))).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(100);
  }, 90_000);

  test(`WATCHDOG=1 through systemd-notify keeps a healthy master alive (WatchdogSec=${WATCHDOG_SEC})`, async () => {
    const { before, after, sinceLastPingUsec } = await app.watchdogPeriods(WATCHDOG_SEC);
    expect(after).toMatchObject({ ActiveState: 'active', MainPID: before.MainPID, NRestarts: '0' });
    // systemd saw a WATCHDOG=1 within the last WatchdogSec.
    expect(sinceLastPingUsec).toBeLessThan(WATCHDOG_SEC * 1e6);
  }, 30_000);

  test('systemctl stop drains (STOPPING=1) and the unit ends inactive with Result=success', async () => {
    await app.waitActive();
    await sd.systemctl(['stop', 'app.service'], { timeoutMs: 60_000 });
    expect(await show('ActiveState', 'Result', 'ExecMainStatus')).toEqual({ ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' });
    expect(await sd.journal('app.service')).toMatch(/"msg":"stopped"/);
  }, 60_000);
});
