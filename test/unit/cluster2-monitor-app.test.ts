/** How a cluster2 monitor app becomes the admin port's handler for other paths (src/cluster2/monitor-app.ts). */
import * as http from 'node:http';
import * as net from 'node:net';
import pino from 'pino';
import { monitorHandler } from '../../src/cluster2/monitor-app';
import type { Handler } from '../../src/admin/server';
import { request } from '../helpers/sockrun';

const log = pino({ level: 'silent' });
const servers: http.Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

/** Serves `handler` on a loopback port, as the admin port would; returns the port. */
async function serve(handler: Handler): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

describe('the monitor app on the admin port', () => {
  test('a (req, res) function, as an express app is', async () => {
    const port = await serve(monitorHandler((req: http.IncomingMessage, res: http.ServerResponse) => res.end(`fn ${req.url}`), log)!);
    expect((await request({ port }, '/status')).body).toBe('fn /status');
  });

  test('an http.Server that is never listened on: its request listeners answer', async () => {
    const monApp = http.createServer((req, res) => res.end(`server ${req.url}`));
    const port = await serve(monitorHandler(monApp, log)!);
    expect((await request({ port }, '/x')).body).toBe('server /x');
    expect(monApp.listening).toBe(false);
  });

  test('a handler that throws is answered 500; the process goes on', async () => {
    const port = await serve(monitorHandler(() => { throw new Error('boom'); }, log)!);
    expect(await request({ port }, '/')).toMatchObject({ status: 500, body: 'internal error\n' });
    expect((await request({ port }, '/')).status).toBe(500);
  });

  test('anything that speaks no HTTP is not served', () => {
    expect(monitorHandler(net.createServer(), log)).toBeUndefined();
    expect(monitorHandler(http.createServer(), log)).toBeUndefined(); // no request listener
    expect(monitorHandler({ listen() {} }, log)).toBeUndefined();
  });
});
