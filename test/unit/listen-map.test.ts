import { mapListen } from '../../src/worker/listen-map';
import type { SocketInfo } from '../../src/protocol';

const http: SocketInfo = { fd: 3, name: 'http', kind: 'tcp', host: '127.0.0.1', port: 8080 };
const admin: SocketInfo = { fd: 4, name: 'admin', kind: 'tcp', host: '127.0.0.1', port: 9090 };
const unix: SocketInfo = { fd: 5, name: 'unknown', kind: 'unix', path: '/run/app.sock' };
const cb = () => {};

describe('mapping listen() to an inherited socket', () => {
  test('one socket: every listen() maps to it, and the callback is kept', () => {
    for (const args of [[3000], ['3000'], [0, '0.0.0.0', cb], [{ port: 80 }], ['/tmp/x.sock'], []]) {
      expect(mapListen(args, [http])?.socket).toBe(http);
    }
    expect(mapListen([3000, cb], [http])?.callback).toBe(cb);
  });

  test('several: by port, by name, by unix path', () => {
    const all = [http, admin, unix];
    expect(mapListen([9090], all)?.socket).toBe(admin);
    expect(mapListen([{ port: 8080, host: '::' }], all)?.socket).toBe(http);
    expect(mapListen(['admin'], all)?.socket).toBe(admin);
    expect(mapListen([{ path: '/run/app.sock' }], all)?.socket).toBe(unix);
  });

  test('several and no match: an error that lists the sockets', () => {
    expect(() => mapListen([3000], [http, admin])).toThrow(/listen\(port 3000\) matches none of the inherited sockets: http \(fd 3, 127\.0\.0\.1:8080\), admin/);
  });

  test('listen({fd}) of ours is the API mode; other fds and handles pass through', () => {
    expect(mapListen([{ fd: 4 }], [http, admin])?.socket).toBe(admin);
    expect(mapListen([{ fd: 9 }], [http])).toBeUndefined();
    expect(mapListen([{ handle: {} }], [http])).toBeUndefined();
  });
});
