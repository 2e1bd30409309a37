/**
 * src/systemd/notify.ts against a real systemd (booted in private namespaces), driven by a
 * one-process fixture that uses the Notifier the way the master does. Independent of the
 * runner, so a failure here is the notify code's, not the master's.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ts from 'typescript';
import { describeWithSystemd, SystemdSandbox } from '../helpers/systemd-sandbox';

const REPO = resolve(__dirname, '../..');
const FIXTURE = join(REPO, 'test/fixtures/systemd/notify-app.js');
const PORT = 18181;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** src/systemd/*.ts as plain JS in a directory the sandbox can see (its /tmp is private). */
function compileNotify(outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  for (const file of ['notify', 'transport', 'watchdog']) {
    const source = readFileSync(join(REPO, 'src/systemd', `${file}.ts`), 'utf8');
    const out = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
    writeFileSync(join(outDir, `${file}.js`), out.outputText);
  }
  return join(outDir, 'notify.js');
}

describeWithSystemd('sd_notify from sockrun under a real systemd', () => {
  let sd: SystemdSandbox;
  let events: string;

  const curl = () => sd.exec(['curl', '-sS', '-m', '5', `http://127.0.0.1:${PORT}/`]);
  const show = (...p: string[]) => sd.show('notifyapp.service', p);

  beforeAll(async () => {
    sd = await SystemdSandbox.boot(`notify-${process.pid}`);
    console.log(`systemd sandbox booted in ${sd.bootMs} ms`);
    const module = compileNotify(join(sd.stateDir, 'notify'));
    events = join(sd.stateDir, 'events.log');
    writeFileSync(events, '');
    sd.writeUnit('notifyapp.socket', `
      [Socket]
      ListenStream=127.0.0.1:${PORT}
    `);
    sd.writeUnit('notifyapp.service', `
      [Unit]
      Requires=notifyapp.socket
      After=notifyapp.socket
      [Service]
      Type=notify
      ExecStart=${process.execPath} ${FIXTURE}
      ExecReload=/bin/kill -HUP $MAINPID
      Environment=NOTIFY_MODULE=${module} EVENTS=${events} NODE_PATH=${join(REPO, 'node_modules')}
      Environment=RELOAD_MS=1500 DRAIN_MS=5000
      WatchdogSec=2
      TimeoutStopSec=2
    `);
    await sd.daemonReload();
    await sd.systemctl(['start', 'notifyapp.socket']);
  }, 120_000);

  afterAll(async () => {
    if (sd) console.log(`systemd sandbox down in ${await sd.down()} ms`);
  }, 120_000);

  afterEach(async () => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts && sd) {
      console.log(`journal of notifyapp.service:\n${await sd.journal('notifyapp.service')}\nevents:\n${readFileSync(events, 'utf8')}`);
    }
  });

  test('the first connection starts the service; READY=1 makes it active and STATUS= shows in systemctl', async () => {
    const response = await curl();
    const pid = Number(/pid (\d+)/.exec(response.stdout)?.[1]);
    const p = await sd.waitForShow('notifyapp.service', ['ActiveState', 'SubState', 'MainPID', 'StatusText'], (s) => s.ActiveState === 'active');
    expect(p).toEqual({ ActiveState: 'active', SubState: 'running', MainPID: String(pid), StatusText: 'ready: 1/1 workers, generation 1, 0 connections' });
    const status = await sd.systemctl(['status', 'notifyapp.service'], { allowFailure: true });
    expect(status.stdout).toContain('Status: "ready: 1/1 workers, generation 1, 0 connections"');
  });

  test('RELOADING=1 + MONOTONIC_USEC holds the unit in "reload" until READY=1', async () => {
    const t0 = Date.now();
    await sd.systemctl(['reload', '--no-block', 'notifyapp.service']);
    const during = await sd.waitForShow('notifyapp.service', ['SubState', 'StatusText'], (s) => s.SubState === 'reload', 5000);
    expect(during.StatusText).toBe('reloading: generation 2');
    const after = await sd.waitForShow('notifyapp.service', ['ActiveState', 'SubState', 'StatusText'], (s) => s.SubState === 'running', 10_000);
    const took = Date.now() - t0;
    console.log(`unit left "reload" ${took} ms after systemctl reload (fixture sends READY=1 after 1500 ms)`);
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(after).toEqual({ ActiveState: 'active', SubState: 'running', StatusText: 'ready: 1/1 workers, generation 2, 0 connections' });
    expect(await sd.journal('notifyapp.service')).not.toMatch(/MONOTONIC_USEC|Failed to parse/);
  });

  test('EXTEND_TIMEOUT_USEC keeps a 5 s drain alive past TimeoutStopSec=2; the stop ends in success', async () => {
    const t0 = Date.now();
    await sd.systemctl(['stop', 'notifyapp.service'], { timeoutMs: 30_000 });
    const took = Date.now() - t0;
    const p = await show('ActiveState', 'Result');
    console.log(`systemctl stop returned after ${took} ms`);
    expect(p).toEqual({ ActiveState: 'inactive', Result: 'success' });
    expect(took).toBeGreaterThanOrEqual(4500);
    expect(readFileSync(events, 'utf8')).toMatch(/drained after \d+ ms/);
  }, 30_000);

  test('a healthy loop keeps the watchdog (WatchdogSec=2) fed: never killed', async () => {
    await curl();
    const before = await sd.waitForShow('notifyapp.service', ['ActiveState', 'MainPID'], (s) => s.ActiveState === 'active');
    await sleep(5000);
    const after = await show('ActiveState', 'MainPID', 'Result', 'NRestarts');
    expect(after).toEqual({ ActiveState: 'active', MainPID: before.MainPID, Result: 'success', NRestarts: '0' });
  }, 20_000);

  test('a loop that declares itself unhealthy stops WATCHDOG=1 and systemd kills it (Result=watchdog)', async () => {
    const { MainPID } = await show('MainPID');
    const t0 = Date.now();
    await sd.signal(MainPID, 'USR2');
    const p = await sd.waitForShow('notifyapp.service', ['ActiveState', 'Result'], (s) => s.ActiveState === 'failed', 10_000);
    console.log(`watchdog fired ${Date.now() - t0} ms after the loop went unhealthy`);
    expect(p.Result).toBe('watchdog');
    await sd.systemctl(['reset-failed', 'notifyapp.service']);
  }, 20_000);

  test('a stopped loop (SIGSTOP) is killed by the watchdog (Result=watchdog)', async () => {
    await curl();
    const { MainPID } = await sd.waitForShow('notifyapp.service', ['ActiveState', 'MainPID'], (s) => s.ActiveState === 'active');
    const t0 = Date.now();
    await sd.signal(MainPID, 'STOP');
    const p = await sd.waitForShow('notifyapp.service', ['ActiveState', 'Result'], (s) => s.ActiveState === 'failed', 10_000);
    console.log(`watchdog fired ${Date.now() - t0} ms after SIGSTOP`);
    expect(p.Result).toBe('watchdog');
  }, 20_000);
});
