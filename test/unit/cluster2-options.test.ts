/** How cluster2's options become a sockrun Configuration (src/cluster2/options.ts, DESIGN §10). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusterConfiguration, singleProcessRequested } from '../../src/cluster2/options';
import { cluster2Warnings } from '../../src/cluster2/legacy-options';
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

  test('cluster2 0.4\'s own test server starts: heartbeatInterval and maxHeartbeatDelay (numbers, or strings from the environment)', () => {
    // The options of cluster2 0.4.26's test/lib/server.js, which exited 2 on maxHeartbeatDelay.
    const c = resolve({
      timeout: 300 * 1000, port: '3000', monPort: '7000', cluster: true, noWorkers: '2', connThreshold: 10,
      ecv: { control: true }, heartbeatInterval: '100', maxHeartbeatDelay: 3000,
    });
    expect(c.pingIntervalMs).toBe(100);
    expect(c.hangTimeoutMs).toBe(3000);
    expect(c.workers).toBe(2);
    expect(c.admin).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 7000 });
  });

  test('maxHeartbeatDelay is the hang timeout; heartbeatInterval the ping interval, and alone it keeps three missed heartbeats before "hung"', () => {
    expect(resolve({ maxHeartbeatDelay: 1500 }).hangTimeoutMs).toBe(1500);
    expect(resolve({ maxHeartbeatDelay: '2m' }).hangTimeoutMs).toBe(120_000);
    // cluster2's defaults, 60 s heartbeats and 3 min delay: a worker pinging once a minute is not hung after 30 s.
    expect(resolve({ heartbeatInterval: 60_000 })).toMatchObject({ pingIntervalMs: 60_000, hangTimeoutMs: 180_000 });
    // A short interval keeps sockrun's 30 s default.
    expect(resolve({ heartbeatInterval: 500 })).toMatchObject({ pingIntervalMs: 500, hangTimeoutMs: 30_000 });
    expect(resolve({})).toMatchObject({ pingIntervalMs: 1000, hangTimeoutMs: 30_000 });
    expect(resolve({ heartbeatInterval: 1000, hangTimeout: '5s' }).hangTimeoutMs).toBe(5000);
  });

  test('uptimeThreshold (seconds, as cluster2) is recycling by age; without it no worker is recycled by age (cluster2: after 24 h)', () => {
    expect(resolve({ uptimeThreshold: 3600 * 24 }).recycle.ageMs).toBe(86_400_000);
    expect(resolve({ uptimeThreshold: '2' }).recycle.ageMs).toBe(2000);
    expect(resolve({ uptimeThreshold: '6h' }).recycle.ageMs).toBe(21_600_000);
    expect(resolve({}).recycle.ageMs).toBe(0);
  });

  test('a monitor app without monPort is served on cluster2\'s 3001; monPort moves it', () => {
    const monApp = () => {};
    expect(resolve({ monitor: monApp }).admin).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 3001 });
    expect(resolve({ monitor: monApp, monHost: '127.0.0.1' }).admin).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 3001 });
    expect(resolve({ monitor: monApp, monPort: 9100 }).admin).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 9100 });
    expect(resolve({ monitor: monApp, admin: 'unix:/run/app/admin.sock' }).admin).toEqual({ kind: 'unix', path: '/run/app/admin.sock' });
    expect(resolve({}).admin).toBeUndefined();
    expect(resolve({ monitor: '/health' }).admin).toBeUndefined(); // not an app (ecv.monitor was meant)
  });

  test('every option cluster2 0.3-0.5 documented or read starts; those sockrun does another way say so in one line each', () => {
    const all = {
      port: 3000, host: '127.0.0.1', cluster: true, noWorkers: 2, pids: 'pids', logs: 'logs', monPort: 3001, monHost: '127.0.0.1',
      monPath: '/', monitor: () => {}, timeout: 30_000, connThreshold: 10_000, uptimeThreshold: 86_400, heartbeatInterval: 60_000,
      maxHeartbeatDelay: 180_000, ecv: { path: '/ecv', monitor: '/', control: true, validator: () => true }, stop: false, shutdown: false,
    };
    expect(() => resolve(all)).not.toThrow();
    const warnings = cluster2Warnings(all);
    expect(warnings).toEqual([
      expect.stringMatching(/^cluster2 option logs: sockrun serves no log files; workers write to the master's stdout and stderr/),
      expect.stringMatching(/^cluster2 option monPath: the admin port answers \/livez, \/readyz, \/metrics and \/ecv; a monitor app is served at its own paths$/),
      expect.stringMatching(/^cluster2 option ecv.validator: not called .*give validator: a module path/),
    ]);
    for (const line of warnings) expect(line).not.toContain('\n');
    expect(cluster2Warnings({ port: 3000 } as object)).toEqual([]);
  });

  test('docs/cluster2.md lists every one of them in its options table', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'cluster2.md'), 'utf8');
    const table = doc.slice(doc.indexOf('| cluster2 (its default) |'), doc.indexOf('\n\n', doc.indexOf('| cluster2 (its default) |')));
    const documented = new Set(table.split('\n').flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`(\w+)(?:[.:]| \(|`)/g)].map((m) => m[1])));
    for (const name of ['port', 'host', 'cluster', 'noWorkers', 'pids', 'logs', 'monPort', 'monHost', 'monPath', 'monitor', 'ecv', 'timeout',
      'connThreshold', 'uptimeThreshold', 'heartbeatInterval', 'maxHeartbeatDelay', 'stop', 'shutdown']) {
      expect([name, documented.has(name)]).toEqual([name, true]);
    }
  });

  test('only a typo is an error, with a "did you mean" when one name is close', () => {
    const message = (options: object) => {
      try {
        resolve(options);
      } catch (e) {
        expect(e).toMatchObject({ code: 'SOCKRUN_ERR_USAGE' });
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(message({ maxHeartBeatDelay: 3000 })).toBe('new Cluster(): unknown option "maxHeartBeatDelay" (did you mean maxHeartbeatDelay?)');
    expect(message({ hearheatInterval: 500 })).toBe('new Cluster(): unknown option "hearheatInterval" (did you mean heartbeatInterval?)');
    expect(message({ noworkers: 2 })).toBe('new Cluster(): unknown option "noworkers" (did you mean noWorkers?)');
    expect(message({ drainDelya: '5s' })).toBe('new Cluster(): unknown option "drainDelya" (did you mean drainDelay?)');
    expect(message({ colour: 'blue' })).toBe('new Cluster(): unknown option "colour"');
    expect(message({ ecv: { contrl: true } })).toBe('new Cluster(): unknown option "ecv.contrl" (did you mean ecv.control?)');
  });

  test('a hang timeout no longer than the ping interval is refused: every worker would look hung', () => {
    expect(() => resolve({ heartbeatInterval: 1000, maxHeartbeatDelay: 1000 }))
      .toThrow('new Cluster(): maxHeartbeatDelay (1000 ms) must be longer than heartbeatInterval (1000 ms), or every worker looks hung');
    expect(() => resolve({ heartbeatInterval: 1000, maxHeartbeatDelay: 0 })).not.toThrow(); // 0: hang detection off
  });

  test('giving a cluster2 heartbeat or recycle option with its sockrun twin is an error', () => {
    expect(() => resolve({ heartbeatInterval: 1000, pingInterval: '1s' })).toThrow('give either heartbeatInterval (cluster2) or pingInterval (sockrun), not both');
    expect(() => resolve({ maxHeartbeatDelay: 1000, hangTimeout: '1s' })).toThrow('give either maxHeartbeatDelay (cluster2) or hangTimeout (sockrun), not both');
    expect(() => resolve({ uptimeThreshold: 10, recycleAge: '1h' })).toThrow('give either uptimeThreshold (cluster2) or recycleAge (sockrun), not both');
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
