/** How cluster2's options become a sockrun Configuration (src/cluster2/options.ts, DESIGN §10). */
import * as path from 'node:path';
import { clusterConfiguration, singleProcessRequested, toRawOptions } from '../../src/cluster2/options';
import { SockrunError } from '../../src/errors';

const ARGV = ['/usr/bin/node', '/srv/app/server.js', '--flag', 'x'];
const CWD = '/srv/app';
const resolve = (options: object, env: NodeJS.ProcessEnv = {}, adopting = false) =>
  clusterConfiguration(options, env, ARGV, adopting, CWD);

describe('cluster2 options → Configuration', () => {
  test('defaults: port 3000 on every interface, auto workers, 30 s idle timeout, <cwd>/pids/master.pid, no admin port, no recycling', () => {
    const c = resolve({});
    expect(c.listen).toEqual([{ name: undefined, address: { kind: 'tcp', host: undefined, port: 3000 } }]);
    expect(c.workers).toBe('auto');
    expect(c.idleTimeoutMs).toBe(30_000);
    expect(c.pidFile).toBe('/srv/app/pids/master.pid');
    expect(c.admin).toBeUndefined();
    expect(c.recycle.connections).toBe(0);
    expect(c.ecvOnAppPort).toBe(false);
  });

  test('the workers run this same script with the same arguments', () => {
    const c = resolve({});
    expect(c.app).toBe('/srv/app/server.js');
    expect(c.appArgs).toEqual(['--flag', 'x']);
  });

  test('every cluster2 option maps to its sockrun option', () => {
    const c = resolve({
      port: 8080, host: '127.0.0.1', noWorkers: 3, pids: 'run', monPort: 3001, monHost: '127.0.0.1',
      ecv: { monitor: '/health', control: false }, timeout: 5000, connThreshold: 1000,
    });
    expect(c.listen).toEqual([{ name: undefined, address: { kind: 'tcp', host: '127.0.0.1', port: 8080 } }]);
    expect(c.workers).toBe(3);
    expect(c.pidFile).toBe(path.join(CWD, 'run', 'master.pid'));
    expect(c.admin).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 3001 });
    expect(c.ecvOnAppPort).toBe(true);
    expect(c.ecvMonitor).toBe('/health');
    expect(c.ecvControl).toBe(false);
    expect(c.idleTimeoutMs).toBe(5000);
    expect(c.recycle.connections).toBe(1000);
  });

  test('monHost defaults to 0.0.0.0 as in cluster2; IPv6 hosts and several ports are written as sockrun addresses', () => {
    expect(resolve({ monPort: 3001 }).admin).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 3001 });
    expect(resolve({ port: [3000, 3002], host: '::1' }).listen.map((l) => l.address)).toEqual([
      { kind: 'tcp', host: '::1', port: 3000 }, { kind: 'tcp', host: '::1', port: 3002 },
    ]);
    expect(resolve({ port: '/run/app.sock' }).listen[0].address).toEqual({ kind: 'unix', path: '/run/app.sock' });
  });

  test('sockrun options are accepted under their camelCase names', () => {
    const c = resolve({ drainDelay: '5s', gracefulTimeout: 10_000, recycleMemory: '512M', listen: ['http=127.0.0.1:9000'], logLevel: 'warn' });
    expect(c.drainDelayMs).toBe(5000);
    expect(c.gracefulTimeoutMs).toBe(10_000);
    expect(c.recycle.memoryBytes).toBe(512 * 1024 * 1024);
    expect(c.listen).toEqual([{ name: 'http', address: { kind: 'tcp', host: '127.0.0.1', port: 9000 } }]);
    expect(c.logLevel).toBe('warn');
  });

  test('SOCKRUN_* environment variables override the options, as they override a config file', () => {
    const c = resolve({ port: 3000, noWorkers: 4 }, { SOCKRUN_LISTEN: '127.0.0.1:8081', SOCKRUN_WORKERS: '2' });
    expect(c.listen[0].address).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 8081 });
    expect(c.workers).toBe(2);
  });

  test('sockets handed over (systemd, fd): port binds nothing', () => {
    expect(resolve({ port: 3000 }, {}, true).listen).toEqual([]);
  });

  test('pids: false writes no pid file; pidFile wins', () => {
    expect(resolve({ pids: false }).pidFile).toBeUndefined();
    expect(resolve({ pidFile: '/run/app.pid' }).pidFile).toBe('/run/app.pid');
  });

  test('clear usage errors: both names for one option, an unknown option, an unsupported ecv.path, a bad value', () => {
    const usage = (options: object, message: string | RegExp) => {
      let err: unknown;
      try {
        resolve(options);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SockrunError);
      expect(err).toMatchObject({ code: 'SOCKRUN_ERR_USAGE' });
      expect((err as Error).message).toMatch(message);
    };
    usage({ noWorkers: 2, workers: 3 }, 'give either noWorkers (cluster2) or workers (sockrun), not both');
    usage({ port: 3000, listen: '8080' }, 'give either port (cluster2) or listen (sockrun), not both');
    usage({ timeout: 1, idleTimeout: '2s' }, 'give either timeout (cluster2) or idleTimeout (sockrun), not both');
    usage({ colour: 'blue' }, 'unknown option "colour"');
    usage({ ecv: { path: '/health' } }, 'ecv.path "/health" is not supported');
    usage({ drainDelay: 'soon' }, /"soon" is not a duration/);
  });

  test('cluster2 options sockrun has no use for are accepted and ignored', () => {
    expect(() => toRawOptions({ monPath: '/', heartbeatInterval: 1000 } as object, false, CWD)).not.toThrow();
  });

  test('no script to run in the workers is a usage error', () => {
    expect(() => clusterConfiguration({}, {}, ['/usr/bin/node'], false, CWD)).toThrow('cannot tell which script to run in the workers');
  });

  test('one process: cluster: false, or zero workers however given (SOCKRUN_WORKERS first)', () => {
    expect(singleProcessRequested({ cluster: false }, {})).toBe(true);
    expect(singleProcessRequested({ noWorkers: 0 }, {})).toBe(true);
    expect(singleProcessRequested({ workers: '0' }, {})).toBe(true);
    expect(singleProcessRequested({}, { SOCKRUN_WORKERS: '0' })).toBe(true);
    expect(singleProcessRequested({ noWorkers: 0 }, { SOCKRUN_WORKERS: '2' })).toBe(false);
    expect(singleProcessRequested({}, {})).toBe(false);
    expect(singleProcessRequested({ noWorkers: 4 }, {})).toBe(false);
  });
});
