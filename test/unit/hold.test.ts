/**
 * sockets/hold.ts with real sockets, through both handle sources (handles.ts): net's own
 * (`net._createServerHandle`, Node 22/24/26) and the process.binding fallback. A bind is in
 * LISTEN at once with the requested backlog, and nothing in this process ever accepts on it.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { HandleSource, bindingHandles, netHandles } from '../../src/sockets/handles';
import { bindAll, releaseSocket } from '../../src/sockets/hold';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** `ss` columns for a listening TCP socket: Recv-Q = connections waiting to be accepted, Send-Q = backlog. */
const listening = (filter: string[]) => execFileSync('ss', ['-Hl', ...filter], { encoding: 'utf8' }).trim().split(/\s+/);

describe.each([['net._createServerHandle', netHandles!], ['process.binding', bindingHandles]] as [string, HandleSource][])('handles from %s', (_name, source) => {
  test('a TCP bind listens at once with --backlog; connections wait in the backlog, never accepted here', async () => {
    const [s] = await bindAll([{ name: 'http', address: { kind: 'tcp', host: '127.0.0.1', port: 0 } }], { backlog: 7, source });
    try {
      const client = net.connect(s.port!, '127.0.0.1').on('error', () => {});
      await once(client, 'connect');
      await sleep(200); // several turns of this event loop
      const [state, waiting, backlog] = listening(['-tn', `sport = :${s.port}`]);
      expect({ state, waiting, backlog }).toEqual({ state: 'LISTEN', waiting: '1', backlog: '7' });
      client.destroy();
    } finally {
      releaseSocket(s);
    }
  });

  test('a unix socket appears already listening; released, its path goes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-hold-'));
    const p = path.join(dir, 'app.sock');
    const [s] = await bindAll([{ name: 'http', address: { kind: 'unix', path: p } }], { backlog: 5, source });
    try {
      const client = net.connect(p).on('error', () => {});
      await once(client, 'connect');
      await sleep(200);
      // The kernel names it by the temporary name it was bound at, beside the path.
      const row = execFileSync('ss', ['-Hlxn'], { encoding: 'utf8' }).split('\n').find((l) => l.includes(`${dir}/.app.sock.`));
      expect(row?.trim().split(/\s+/).slice(0, 3)).toEqual(['u_str', 'LISTEN', '1']);
      expect(fs.readdirSync(dir)).toEqual(['app.sock']); // the temporary name is gone
      client.destroy();
    } finally {
      releaseSocket(s);
    }
    expect(fs.existsSync(p)).toBe(false);
    fs.rmSync(dir, { recursive: true });
  });

  test('an address someone listens on is PORT_BUSY', async () => {
    const other = net.createServer().listen(0, '127.0.0.1');
    await once(other, 'listening');
    const { port } = other.address() as net.AddressInfo;
    await expect(bindAll([{ name: 'http', address: { kind: 'tcp', host: '127.0.0.1', port } }], { backlog: 5, source }))
      .rejects.toMatchObject({ code: 'SOCKRUN_ERR_PORT_BUSY', message: `--listen 127.0.0.1:${port}: address already in use` });
    other.close();
  });
});
