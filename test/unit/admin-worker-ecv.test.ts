/**
 * GET /ecv on the app port, answered inside the worker (src/worker/ecv.ts): which requests it
 * takes, the verdict it reports, what it leaves to the app, and what it costs per request.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { installEcvOnAppPort } from '../../src/worker/ecv';
import type { MasterMessage } from '../../src/protocol';

const originalEmit = net.Server.prototype.emit;
afterEach(() => {
  net.Server.prototype.emit = originalEmit;
});

function fetch(port: number, method: string, p: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.request({ host: '127.0.0.1', port, method, path: p, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    }).on('error', reject).end();
  });
}

async function listening(server: http.Server): Promise<{ port: number; fd: number }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, fd: (server as unknown as { _handle: { fd: number } })._handle.fd };
}

test('without SOCKRUN_ECV_ON_APP_PORT=1 nothing is installed', () => {
  installEcvOnAppPort({}, [{ fd: 3, name: 'x', kind: 'tcp', port: 1 }], () => {
    throw new Error('must not subscribe');
  });
  expect(net.Server.prototype.emit).toBe(originalEmit);
});

test('answers GET/HEAD /ecv on inherited sockets with the master\'s verdict; everything else reaches the app', async () => {
  const app = (req: http.IncomingMessage, res: http.ServerResponse) => res.end(`app ${req.method} ${req.url}`);
  const inherited = http.createServer(app);
  const other = http.createServer(app);
  const a = await listening(inherited);
  const b = await listening(other);
  let deliver!: (m: MasterMessage) => void;
  installEcvOnAppPort({ SOCKRUN_ECV_ON_APP_PORT: '1' }, [{ fd: a.fd, name: 'http', kind: 'tcp', port: a.port }], (h) => (deliver = h));
  try {
    const before = await fetch(a.port, 'GET', '/ecv');
    expect(before.status).toBe(400); // no word from the master yet
    expect(before.body).toMatch(new RegExp(`^status=DISABLED&ServeTraffic=false&ip=127\\.0\\.0\\.1&hostname=.+&port=${a.port}&time=`));
    const since = Date.parse('2024-01-02T03:04:05Z');
    deliver({ type: 'sockrun:ecv', available: true, since });
    const up = await fetch(a.port, 'GET', '/ecv?from=lb');
    expect(up.status).toBe(200);
    expect(up.body).toMatch(/^status=AVAILABLE&ServeTraffic=true&/);
    expect(up.headers.since).toBe(new Date(since).toString());
    expect(up.headers['x-powered-by']).toBe('Cluster2');
    expect((await fetch(a.port, 'HEAD', '/ecv')).status).toBe(200);
    for (const [method, p] of [['POST', '/ecv'], ['POST', '/ecv/disable'], ['GET', '/ecvx'], ['GET', '/ecv/'], ['GET', '/']]) {
      expect((await fetch(a.port, method, p)).body).toBe(`app ${method} ${p}`);
    }
    // A server the app opened on a socket of its own is not sockrun's to answer for.
    expect((await fetch(b.port, 'GET', '/ecv')).body).toBe('app GET /ecv');
    deliver({ type: 'sockrun:ecv', available: false, since });
    expect((await fetch(a.port, 'GET', '/ecv')).status).toBe(400);
  } finally {
    inherited.close();
    other.close();
  }
});
