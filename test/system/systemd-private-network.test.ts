/**
 * systemd's documented hardening for a socket-activated service, `PrivateNetwork=yes` (issue 15
 * item 4): the shipped units plus that one line, under a real systemd. systemd creates the socket
 * in its own (the sandbox's) network namespace; the service runs in a namespace of its own, whose
 * /proc/net does not list the socket. Before issue 15 sockrun refused it (exit 6).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeWithSystemd, SystemdSandbox } from '../helpers/systemd-sandbox';

const REPO = resolve(__dirname, '../..');
const SOCKRUN = process.env.SOCKRUN_SYSTEMD_TEST_BIN || join(REPO, 'bin/sockrun.js');
const APP = join(REPO, 'test/fixtures/systemd/app.js');
const LOAD = join(REPO, 'test/fixtures/systemd/load.js');
const NODE = process.execPath;
const PORT = 18081;
const URL = `http://127.0.0.1:${PORT}/`;
const ADMIN = '/run/app/admin.sock';

function testUnits(): { socket: string; service: string } {
  const socket = readFileSync(join(REPO, 'systemd/app.socket'), 'utf8').replace(/^ListenStream=.*$/m, `ListenStream=127.0.0.1:${PORT}`);
  const service = readFileSync(join(REPO, 'systemd/app.service'), 'utf8')
    .replace(/^ExecStart=.*$/m, `ExecStart=${NODE} ${SOCKRUN} --workers 2 --admin unix:${ADMIN} --ping-interval 250ms ${APP}`)
    .replace(/^ExecReload=.*$/m, `ExecReload=${NODE} ${SOCKRUN} reload --pid $MAINPID`)
    .replace(/^WorkingDirectory=.*$/m, `WorkingDirectory=${REPO}\nBindReadOnlyPaths=${REPO}`)
    .replace(/^EnvironmentFile=.*$/m, 'PrivateNetwork=yes');
  return { socket, service };
}

describeWithSystemd('PrivateNetwork=yes with a socket unit, under a real systemd', () => {
  let sd: SystemdSandbox;
  const show = (...p: string[]) => sd.show('app.service', p);
  const load = async (mode: string, arg: number): Promise<{ ok: number; failed: number; pids: Record<string, number>; generations: Record<string, number> }> =>
    JSON.parse((await sd.exec([NODE, LOAD, URL, mode, String(arg)], { timeoutMs: 60_000 })).stdout.trim().split('\n').pop()!);

  beforeAll(async () => {
    sd = await SystemdSandbox.boot(`sockrun-privnet-${process.pid}`);
    const { socket, service } = testUnits();
    sd.writeUnit('app.socket', socket);
    sd.writeUnit('app.service', service);
    await sd.daemonReload();
    await sd.systemctl(['start', 'app.socket']);
  }, 120_000);

  afterAll(async () => {
    if (!sd) return;
    console.log(`journal (tail):\n${(await sd.journal('app.service', 40)).split('\n').map((l) => l.slice(0, 240)).join('\n')}`);
    await sd.down();
  }, 120_000);

  test('the first connection starts the service in its own network namespace; its workers answer; the admin port, reload and stop work', async () => {
    expect(await load('once', 1)).toMatchObject({ ok: 1, failed: 0 });
    const p = await sd.waitForShow('app.service', ['ActiveState', 'SubState', 'MainPID', 'StatusText'], (s) => s.ActiveState === 'active' && s.SubState === 'running', 30_000);
    expect(p.StatusText).toMatch(/^READY: 2\/2 workers ready, generation 1,/);
    const ns = async (pid: string) => (await sd.exec(['readlink', `/proc/${pid}/ns/net`])).stdout.trim();
    expect(await ns(p.MainPID)).not.toBe(await ns('self'));

    const burst = await load('1000', 4);
    expect(burst.failed).toBe(0);
    expect(Object.keys(burst.pids)).toHaveLength(2);

    const readyz = `require('http').get({ socketPath: '${ADMIN}', path: '/readyz' }, (r) => process.stdout.write(String(r.statusCode)))`;
    expect((await sd.exec([NODE, '-e', readyz])).stdout).toBe('200');

    await sd.systemctl(['reload', 'app.service'], { timeoutMs: 60_000 });
    expect((await show('StatusText')).StatusText).toMatch(/generation 2,/);
    expect((await load('once', 10)).generations).toEqual({ 2: 10 });

    await sd.systemctl(['stop', 'app.service'], { timeoutMs: 60_000 });
    expect(await show('ActiveState', 'Result', 'ExecMainStatus')).toEqual({ ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' });
  }, 120_000);
});
