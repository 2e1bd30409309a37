import { readConfigFile, resolveConfiguration } from '../../src/config/resolve';
import { parseCount, parseDuration, parseSize } from '../../src/config/units';
import { parseListenAddress } from '../../src/sockets/address';
import { parseFdOption, parseListenFds, unsetListenEnv } from '../../src/sockets/listen-fds';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

describe('units', () => {
  test('durations take ms, s, m, h; a bare number is milliseconds', () => {
    expect(['500ms', '5s', '2m', '1h', '1.5s', '250', ' 3s '].map((d) => parseDuration(d))).toEqual([500, 5000, 120000, 3600000, 1500, 250, 3000]);
    expect(() => parseDuration('soon', '--graceful-timeout')).toThrow('--graceful-timeout: "soon" is not a duration');
    expect(() => parseDuration('-1s')).toThrow();
    expect(() => parseDuration('5 days')).toThrow();
  });

  test('sizes are binary', () => {
    expect(parseSize('512M')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('300MiB')).toBe(300 * 1024 ** 2);
    expect(parseSize(4096)).toBe(4096);
    expect(() => parseSize('lots')).toThrow('is not a size');
  });

  test('counts are non-negative integers', () => {
    expect(parseCount('12', 'x')).toBe(12);
    expect(() => parseCount('1.5', '--workers')).toThrow('--workers: expected a non-negative integer');
    expect(() => parseCount('-3', 'x')).toThrow();
  });
});

describe('--listen addresses', () => {
  test.each([
    ['8080', { kind: 'tcp', host: undefined, port: 8080 }],
    ['127.0.0.1:8080', { kind: 'tcp', host: '127.0.0.1', port: 8080 }],
    ['[::1]:8080', { kind: 'tcp', host: '::1', port: 8080 }],
    ['localhost:0', { kind: 'tcp', host: 'localhost', port: 0 }],
    ['unix:/run/app.sock', { kind: 'unix', path: '/run/app.sock' }],
  ])('%s', (input, address) => {
    expect(parseListenAddress(input).address).toEqual(address);
  });

  test('a name= prefix names the socket', () => {
    expect(parseListenAddress('http=127.0.0.1:80')).toEqual({ name: 'http', address: { kind: 'tcp', host: '127.0.0.1', port: 80 } });
  });

  test.each(['', 'unix:', 'host:port', '70000', '1.2.3.4:99999', '::1:80'])('rejects %p', (input) => {
    expect(() => parseListenAddress(input)).toThrow(/--listen/);
  });
});

describe('socket activation variables (sd_listen_fds semantics)', () => {
  test('apply only when LISTEN_PID is ours', () => {
    expect(parseListenFds({ LISTEN_PID: '42', LISTEN_FDS: '2' }, 42)).toEqual([{ fd: 3, name: 'unknown' }, { fd: 4, name: 'unknown' }]);
    expect(parseListenFds({ LISTEN_PID: '41', LISTEN_FDS: '2' }, 42)).toEqual([]);
    expect(parseListenFds({ LISTEN_FDS: '2' }, 42)).toEqual([]);
  });

  test('names come from LISTEN_FDNAMES; empty names become "unknown"', () => {
    expect(parseListenFds({ LISTEN_PID: '7', LISTEN_FDS: '2', LISTEN_FDNAMES: 'http:' }, 7)).toEqual([{ fd: 3, name: 'http' }, { fd: 4, name: 'unknown' }]);
  });

  test('garbage addressed to us is an error, not a guess', () => {
    expect(() => parseListenFds({ LISTEN_PID: '7', LISTEN_FDS: 'two' }, 7)).toThrow('LISTEN_FDS="two" is not a count');
    expect(() => parseListenFds({ LISTEN_PID: '7', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b:c' }, 7)).toThrow('3 names for LISTEN_FDS=2');
    expect(() => parseListenFds({ LISTEN_PID: 'me', LISTEN_FDS: '1' }, 7)).toThrow('LISTEN_PID="me"');
  });

  test('unset removes all three variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'x', KEEP: 'y' };
    unsetListenEnv(env);
    expect(env).toEqual({ KEEP: 'y' });
  });

  test('--fd N[:name]', () => {
    expect(parseFdOption('3:http')).toEqual({ fd: 3, name: 'http' });
    expect(parseFdOption('5')).toEqual({ fd: 5, name: 'unknown' });
    expect(() => parseFdOption('1')).toThrow('descriptors 0-2 are stdio');
    expect(() => parseFdOption('x')).toThrow('expected N or N:name');
  });
});

describe('configuration precedence: command line > SOCKRUN_* > config file > default', () => {
  const resolve = (cli: object, env: NodeJS.ProcessEnv, file: object) => resolveConfiguration(cli, env, file, 'app.js', []);

  test('each source overrides the next', () => {
    expect(resolve({}, {}, {}).gracefulTimeoutMs).toBe(30_000);
    expect(resolve({}, {}, { 'graceful-timeout': '10s' }).gracefulTimeoutMs).toBe(10_000);
    expect(resolve({}, { SOCKRUN_GRACEFUL_TIMEOUT: '5s' }, { 'graceful-timeout': '10s' }).gracefulTimeoutMs).toBe(5000);
    expect(resolve({ 'graceful-timeout': '1s' }, { SOCKRUN_GRACEFUL_TIMEOUT: '5s' }, {}).gracefulTimeoutMs).toBe(1000);
  });

  test('lists from the environment split on commas or spaces', () => {
    expect(resolve({}, { SOCKRUN_LISTEN: '127.0.0.1:1, unix:/tmp/a' }, {}).listen.map((l) => l.address.kind)).toEqual(['tcp', 'unix']);
  });

  test('errors name the source of the bad value', () => {
    expect(() => resolve({}, { SOCKRUN_WORKERS: 'many' }, {})).toThrow('SOCKRUN_WORKERS: expected a non-negative integer');
    expect(() => resolve({}, {}, { 'log-level': 'loud' })).toThrow('config "log-level": "loud" is not one of');
    expect(() => resolve({}, { SOCKRUN_ECV_ON_APP_PORT: 'perhaps' }, {})).toThrow('is not a boolean');
  });

  test('--admin on a --listen address is refused', () => {
    expect(() => resolve({ admin: '127.0.0.1:9000', listen: ['9000'] }, {}, {})).toThrow('--admin 127.0.0.1:9000 is also a --listen address');
    expect(resolve({ admin: '127.0.0.1:9001', listen: ['127.0.0.1:9000'] }, {}, {}).admin).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9001 });
  });

  test('workers: auto or a count', () => {
    expect(resolve({}, {}, {}).workers).toBe('auto');
    expect(resolve({ workers: '0' }, {}, {}).workers).toBe(0);
  });

  test('config files: JSON, option names or camelCase, unknown keys refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, JSON.stringify({ drainDelay: '3s', 'recycle-memory': '1G' }));
    expect(resolve({}, {}, readConfigFile(file)).drainDelayMs).toBe(3000);
    fs.writeFileSync(file, JSON.stringify({ drainDelai: '3s' }));
    expect(() => readConfigFile(file)).toThrow('unknown option "drainDelai"');
    fs.writeFileSync(file, '{ nope');
    expect(() => readConfigFile(file)).toThrow(/--config .*c\.json/);
  });
});
