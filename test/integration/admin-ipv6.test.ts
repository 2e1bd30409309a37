/**
 * A host with IPv6 disabled (issue 15 item 5): `--listen PORT` (what the Helm chart configures)
 * with `--ecv-monitor` and `--validator` becomes ready. Reproduced in a network namespace of the
 * test's own with net.ipv6.conf.*.disable_ipv6=1; the admin port is a unix socket, reachable
 * from the test's namespace through the filesystem.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, FIXTURES, childPids, eventually, killQuietly, request } from '../helpers/sockrun';

const canUnshare = spawnSync('unshare', ['--net', 'true']).status === 0;
const d = canUnshare || process.env.CI ? describe : describe.skip;

d('IPv6 disabled', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-noipv6-'))));
  afterEach(async () => {
    if (child?.exitCode === null) {
      const workers = childPids(child.pid!);
      child.kill('SIGKILL');
      workers.forEach((pid) => killQuietly(pid));
      await new Promise((r) => child!.once('exit', r));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('--listen PORT --ecv-monitor / --validator: ready, the checks reach the app at 127.0.0.1 (before: [::1], EADDRNOTAVAIL, never ready)', async () => {
    const admin = path.join(dir, 'admin.sock');
    const state = path.join(dir, 'validator-state');
    fs.writeFileSync(state, 'ok');
    const setup = 'ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1';
    const sockrun = [process.execPath, CLI, '--log-format', 'json', '-w', '1', '--listen', '8080', '--admin', `unix:${admin}`,
      '--ecv-monitor', '/', '--ecv-monitor-interval', '200ms', '--validator', path.join(FIXTURES, 'admin', 'validator.js'), path.join(FIXTURES, 'hello.js')];
    child = spawn('unshare', ['--net', '--', 'sh', '-c', `${setup} && exec "$@"`, 'sh', ...sockrun],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VALIDATOR_STATE: state } });
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (out += c));
    await eventually(() => out.includes('"msg":"ready"'), 15_000, 'workers ready');
    const ready = await eventually(async () => {
      const r = await request({ socketPath: admin }, '/readyz').catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    }, 10_000, `/readyz 200; log:\n${out.slice(-2000)}`);
    expect(ready!.body).toMatch(/^ok: READY/);
    // The validator was told the URL that works here.
    fs.writeFileSync(state, 'url');
    const told = await eventually(async () => {
      const r = await request({ socketPath: admin }, '/readyz?verbose');
      return r.status === 503 ? r : undefined;
    }, 10_000, 'the validator to report its url');
    expect(told!.body).toContain('url=http://127.0.0.1:8080');
  });
});
