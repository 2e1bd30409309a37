/**
 * Inherited sockets from another network namespace (issue 15 item 4): systemd's documented
 * hardening, `PrivateNetwork=yes` plus a socket unit, hands the service a socket that lives in
 * the host's namespace. Reproduced here without systemd: systemd-socket-activate (the host side)
 * execs `unshare --net` (the service's private namespace), which execs sockrun with the same pid,
 * so LISTEN_PID names it. The clients connect from the test's (host) namespace.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, FIXTURES, eventually, freePort, killQuietly, request } from '../helpers/sockrun';

const hello = path.join(FIXTURES, 'hello.js');
const canUnshare = spawnSync('unshare', ['--net', 'true']).status === 0;
const d = canUnshare || process.env.CI ? describe : describe.skip;
if (!canUnshare && !process.env.CI) console.warn('SKIPPED: unshare --net is not permitted here (needs root or user namespaces)');

/** `systemd-socket-activate -l <listen> unshare --net -- node sockrun ...`, started on a first connection. */
function activateInPrivateNetwork(listen: string, args: string[]): { child: ChildProcess; out: () => string } {
  const child = spawn('systemd-socket-activate', ['-l', listen, '--fdname=http', '-E', `PATH=${process.env.PATH}`,
    'unshare', '--net', '--', process.execPath, CLI, '--log-format', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, out: () => out };
}

function connectable(target: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(target);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  const workers = fs.existsSync(`/proc/${child.pid}/task/${child.pid}/children`)
    ? fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) : [];
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  for (const pid of workers) killQuietly(pid);
  return code;
}

d('a socket from the host\'s network namespace, handed to a service in its own (PrivateNetwork=yes)', () => {
  test('a TCP socket is accepted and every worker serves on it', async () => {
    const port = await freePort();
    const { child, out } = activateInPrivateNetwork(`127.0.0.1:${port}`, ['-w', '2', hello]);
    try {
      await eventually(() => connectable({ port, host: '127.0.0.1' }), 5000, 'systemd-socket-activate listening');
      // This first connection starts the service; it waits in the backlog until a worker accepts.
      const first = await request({ port }, '/');
      expect(first.status).toBe(200);
      // The master's lines are written once its workers listen (log.ts): a moment after the first answer.
      await eventually(() => out().includes('"msg":"ready"'), 15_000, `ready; output:\n${out()}`);
      expect(out()).toContain(`http=127.0.0.1:${port} (systemd fd 3)`);
      // The master is in another network namespace than ours: its /proc/net does not list the socket.
      expect(fs.readlinkSync(`/proc/${child.pid}/ns/net`)).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
      const pids = new Set<string>();
      for (let i = 0; i < 40; i++) pids.add(/(\d+)\s*$/.exec((await request({ port }, '/')).body)![1]);
      expect(pids.size).toBe(2);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  test('a unix socket is accepted (its path is unknown from there; its name is not)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-netns-'));
    const sock = path.join(dir, 'app.sock');
    const { child, out } = activateInPrivateNetwork(sock, ['-w', '1', hello]);
    try {
      await eventually(() => connectable({ path: sock }), 5000, 'systemd-socket-activate listening');
      expect((await request({ socketPath: sock }, '/')).status).toBe(200);
      await eventually(() => out().includes('"msg":"ready"'), 15_000, `ready; output:\n${out()}`);
      expect(out()).toContain('http=unix:(path unknown) (systemd fd 3)');
    } finally {
      expect(await stop(child)).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
