import * as fs from 'node:fs';
import * as path from 'node:path';
import { ListenRuleError, Taken, mapListen, parseListenCall } from '../../src/worker/listen-map';
import type { SocketInfo } from '../../src/protocol';

const http: SocketInfo = { fd: 3, name: 'http', kind: 'tcp', host: '127.0.0.1', port: 8080 };
const admin: SocketInfo = { fd: 4, name: 'admin', kind: 'tcp', host: '127.0.0.1', port: 9090 };
const unix: SocketInfo = { fd: 5, name: 'unknown', kind: 'unix', path: '/run/app.sock' };
const wide: SocketInfo = { fd: 3, name: 'unknown', kind: 'tcp', host: '::', port: 8080 };
const cb = () => {};

const none: Taken = new Map();
const takenByPort: Taken = new Map([[3, { call: 'listen(8080)', dropIn: false }]]);
const takenByDropIn: Taken = new Map([[3, { call: 'listen(3000)', dropIn: true }]]);
const main = { thread: false };
const thread = { thread: true };

type Expect = 'node' | SocketInfo | { shared: object } | RegExp;
/**
 * The README's table ("The listen rule"), row by row: [row, the app calls, with sockets, context, goes to].
 * A row may hold several cases.
 */
const table: [number, unknown[], SocketInfo[], { thread?: boolean; taken?: Taken; ownCluster?: boolean }, Expect][] = [
  [1, [{ fd: 4 }], [http, admin], main, admin],
  [1, [{ fd: 3 }], [http], thread, 'node'],
  [2, [{ fd: 9 }], [http], main, 'node'],
  [2, [{ handle: {} }], [http], main, 'node'],
  [2, [], [http], main, 'node'],
  [2, [cb], [http], main, 'node'],
  [2, [0], [http], main, 'node'],
  [2, [0, '127.0.0.1', cb], [http], main, 'node'],
  [2, [{ port: 0, host: '::1' }], [http], thread, 'node'],
  [3, ['admin'], [http, admin], main, admin],
  [3, [{ name: 'http' }], [http, admin], main, http],
  [3, ['http'], [http], thread, /in a worker thread would take the inherited socket http .*never serves the public socket/],
  [4, ['/run/app.sock'], [http, unix], main, unix],
  [4, [{ path: '/run/app.sock' }], [unix], thread, /worker thread/],
  [5, ['/run/app/debug.sock'], [http], main, { shared: { kind: 'unix', path: '/run/app/debug.sock' } }],
  [5, ['/run/app/debug.sock'], [http], thread, { shared: { kind: 'unix', path: '/run/app/debug.sock' } }],
  [5, [{ path: '/run/app/debug.sock', exclusive: true }], [http], main, 'node'],
  [6, ['htp'], [http, admin], main, /no inherited socket is named "htp" \(have: http \(fd 3, 127\.0\.0\.1:8080\), admin .*needs a "\/"/],
  [6, [{ name: 'metrics' }], [http], main, /no inherited socket is named "metrics"/],
  [7, [8080, '127.0.0.1'], [http], main, http],
  [7, [{ port: 8080, host: '::ffff:127.0.0.1' }], [http], main, http],
  [7, [8080, '127.0.0.1'], [http], thread, /worker thread/],
  [8, [8080, '127.0.0.1'], [wide], main, /port 8080 is the inherited socket .*all interfaces.*never put on the public socket/],
  [8, [8080, '127.0.0.1'], [wide], thread, /all interfaces/],
  [9, [9100, '127.0.0.1'], [http], main, { shared: { kind: 'tcp', host: '127.0.0.1', port: 9100 } }],
  [9, [9100, '127.0.0.1'], [http], thread, { shared: { kind: 'tcp', host: '127.0.0.1', port: 9100 } }],
  [9, [{ port: 8080, host: '::1' }], [http], main, { shared: { kind: 'tcp', host: '::1', port: 8080 } }],
  [9, [9100, 'localhost', 511, cb], [http], main, { shared: { kind: 'tcp', host: 'localhost', port: 9100 } }],
  [9, [{ port: 9100, host: '127.0.0.1', reusePort: true }], [http], main, { shared: { kind: 'tcp', host: '127.0.0.1', port: 9100 } }],
  [9, [{ port: 9100, host: '127.0.0.1', exclusive: true }], [http], main, 'node'],
  [10, ['8080'], [http, admin], main, http],
  [10, [9090, '0.0.0.0'], [http, admin], main, admin],
  [10, [{ port: 8080, host: '::' }], [http, admin], main, http],
  [10, [8080], [http], thread, /worker thread/],
  [11, [3000], [http], main, http],
  [11, [3000, '::', cb], [http], main, http],
  [11, [{ port: 80 }], [unix], main, unix],
  [12, [3000], [http], { ownCluster: true }, /from the app's own cluster workers.*listen on process\.env\.PORT \(8080\)/],
  [13, [9100], [http], { taken: takenByDropIn }, /already went to the server that called listen\(3000\).*process\.env\.PORT \(8080\)/],
  [14, [9100], [http], { taken: takenByPort }, { shared: { kind: 'tcp', port: 9100 } }],
  [14, [9100, '0.0.0.0'], [http], { taken: takenByPort }, { shared: { kind: 'tcp', port: 9100 } }],
  [14, [9100], [http], thread, { shared: { kind: 'tcp', port: 9100 } }],
  [15, [3000], [http, admin], main, /listen\(3000\) matches none of the inherited sockets: http \(fd 3, 127\.0\.0\.1:8080\), admin \(fd 4, 127\.0\.0\.1:9090\)/],
  [15, [3000], [http, admin], { taken: takenByPort }, /matches none/],
];

describe('the listen rule: where an app\'s listen() goes', () => {
  const where = (sockets: SocketInfo[], ctx: { thread?: boolean; taken?: Taken; ownCluster?: boolean }): string =>
    [`sockets ${sockets.map((s) => s.port ?? s.path).join(', ')}`, ctx.thread && 'in a thread', ctx.taken?.size && 'one taken',
      ctx.ownCluster && 'from the app\'s own cluster'].filter(Boolean).join(', ');
  const cases = table.map(([row, args, sockets, ctx, expected]) => [row, JSON.stringify(args).slice(1, -1), where(sockets, ctx), args, sockets, ctx, expected] as const);

  test.each(cases)('row %i: listen(%s), %s', (_row, _shown, _where, args, sockets, ctx, expected) => {
    const call = parseListenCall(args);
    const run = () => mapListen(call, sockets, { taken: none, ...ctx });
    if (expected instanceof RegExp) {
      expect(run).toThrow(ListenRuleError);
      expect(run).toThrow(expected);
    } else if (expected === 'node') {
      expect(run()).toEqual({ to: 'node' });
    } else if ('shared' in expected) {
      expect(run()).toEqual({ to: 'shared', address: expected.shared });
    } else {
      expect(run()).toMatchObject({ to: 'inherited', socket: expected });
    }
  });

  test('every row of the table is tested, and the README has the same rows as listen-map.ts', () => {
    const rows = Array.from({ length: 15 }, (_, i) => i + 1);
    expect(new Set(table.map(([row]) => row))).toEqual(new Set(rows));
    const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### The listen rule'), readme.indexOf('\n### ', readme.indexOf('### The listen rule') + 5));
    const code = fs.readFileSync(path.join(__dirname, '..', '..', 'src', 'worker', 'listen-map.ts'), 'utf8');
    const numbers = (text: string, prefix: string) => [...text.matchAll(new RegExp(`^${prefix}\\| (\\d+) +\\|`, 'gm'))].map((m) => Number(m[1]));
    expect(numbers(section, '')).toEqual(rows);
    expect(numbers(code, ' \\* ')).toEqual(rows);
  });

  test('a server already on an inherited socket keeps it: a second one is an error, not EEXIST', () => {
    expect(() => mapListen(parseListenCall([8080]), [http], { taken: takenByPort })).toThrow(/already listens on/);
  });

  test('errors carry a stable code and name the rule', () => {
    try {
      mapListen(parseListenCall([3000]), [http, admin]);
      throw new Error('no error');
    } catch (err) {
      expect((err as ListenRuleError).code).toBe('SOCKRUN_ERR_LISTEN_RULE');
      expect((err as Error).message).toMatch(/README "The listen rule"/);
    }
  });
});

describe('reading listen() arguments as Node does', () => {
  test('port, host, backlog and callback in every position', () => {
    expect(parseListenCall([3000, '127.0.0.1', 100, cb])).toEqual({ port: 3000, host: '127.0.0.1', backlog: 100, callback: cb });
    expect(parseListenCall([3000, 100, cb])).toEqual({ port: 3000, host: undefined, backlog: 100, callback: cb });
    expect(parseListenCall(['3000'])).toMatchObject({ port: 3000 });
    expect(parseListenCall([undefined])).toMatchObject({ port: 0 });
    expect(parseListenCall([{ port: '9100', host: '' }])).toMatchObject({ port: 9100, host: undefined });
  });

  test('a port Node would refuse reaches Node, which throws its own error', () => {
    expect(mapListen(parseListenCall([70000]), [http])).toEqual({ to: 'node' });
    expect(mapListen(parseListenCall([-1]), [http])).toEqual({ to: 'node' });
  });
});
