/**
 * The admin port (DESIGN §6): health probes, cluster2's ECV, Prometheus metrics, the status
 * page and its JSON (issue 18), served by the master on its own address (--admin), plus GET /ecv
 * on the app port answered by the workers (--ecv-on-app-port). Registered in cli/attachments.ts; reads the master's events and
 * snapshot, talks to workers only through `broadcast` and `send` (protocol.ts).
 */
import path = require('node:path');
import type { Logger } from 'pino';
import type { Attachment } from '../cli/attachments';
import type { Configuration } from '../config/resolve';
import type { Master } from '../master/master';
import { createMetrics } from '../metrics';
import { TokenFile } from './auth';
import { History } from './history';
import { appTarget } from './monitor';
import { Readiness } from './readiness';
import { adminHandler } from './routes';
import { Handler, startAdminServer } from './server';
import { AppVersion, statusReport } from './status';
import { Validator } from './validator';
import { rolloutGate } from './rollout-gate';

const published = new WeakMap<Master, Readiness>();
const unmatched = new WeakMap<Master, Handler>();

/**
 * Has `master`'s admin port pass every request it does not answer itself (any path but its
 * own) to `handler`: the cluster2 facade's monitor app, which cluster2 served on monPort
 * (issue 17). Call before the admin port starts (startMaster's `observe`); without --admin it
 * does nothing.
 */
export function serveUnmatched(master: Master, handler: Handler): void {
  unmatched.set(master, handler);
}

/**
 * The admin port's verdict for `master` (for the metrics module's readiness and ECV gauges):
 * undefined when neither --admin nor --ecv-on-app-port is set.
 */
export function readinessOf(master: Master): { ready: boolean; ecvEnabled: boolean } | undefined {
  const r = published.get(master);
  return r && { ready: r.isAvailable(), ecvEnabled: r.ecvEnabled };
}

export async function attachAdmin(master: Master, config: Configuration, log: Logger): Promise<Attachment> {
  if (config.admin === undefined && !config.ecvOnAppPort) {
    const unused = (['adminTokenFile', 'ecvMonitor', 'validator', 'minReady'] as const).filter((k) => config[k] !== undefined);
    if (unused.length) log.warn({ options: unused }, 'these options need --admin (or --ecv-on-app-port) and have no effect');
    return { close: () => {} };
  }
  // Its options were checked before the first spawn (option-checks.ts, called by cli/run.ts).
  const token = config.adminTokenFile === undefined ? undefined : TokenFile.open(config.adminTokenFile);
  if (token?.exposed) log.warn({ file: token.file }, '--admin-token-file is readable by other users; chmod 600 it');

  let validator: Validator | undefined;
  if (config.validator !== undefined) {
    const target = appTarget(master.snapshot().sockets);
    validator = new Validator(path.resolve(config.validator), {
      url: target && 'port' in target ? `http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}` : undefined,
      sockets: master.snapshot().sockets.map(({ name, kind, host, port, path: p }) => ({ name, kind, host, port, path: p })),
    }, log);
    await validator.load();
  }
  master.setRolloutGate(rolloutGate(master, config.ecvMonitor, validator, config.ecvMonitorTimeoutMs));
  const readiness = new Readiness(master, config, log, validator);
  published.set(master, readiness);
  const stopBridge = config.ecvOnAppPort ? bridgeEcvToWorkers(master, readiness) : () => {};
  readiness.start();

  const closers: (() => unknown)[] = [stopBridge, () => readiness.close(), () => validator?.close()];
  if (config.admin !== undefined) {
    const metrics = createMetrics(master, {
      intervalMs: config.metricsIntervalMs,
      readiness: () => ({ ready: readiness.isAvailable(), ecvEnabled: readiness.ecvEnabled }),
    }, log);
    closers.push(() => metrics.close());
    // The status page's memory starts before Master.start() lets the first events through, so no exit goes unrecorded.
    const history = new History();
    const appVersion = new AppVersion(master);
    closers.push(history.listen(master), () => appVersion.close());
    try {
      const admin = await startAdminServer(config.admin, adminHandler({
        master,
        readiness,
        metrics,
        transport: config.admin.kind === 'unix' ? 'unix' : 'tcp',
        token,
        ecvControl: config.ecvControl,
        log,
        status: () => statusReport({ master, readiness, history, appVersion }),
        unmatched: unmatched.get(master),
      }));
      closers.unshift(() => admin.close());
      log.info({ admin: admin.where, control: config.ecvControl ? (config.admin.kind === 'unix' ? 'unix socket' : token ? 'bearer token' : 'off (no --admin-token-file)') : 'off' }, 'admin port listening');
    } catch (err) {
      for (const close of closers) await close();
      throw err;
    }
  }
  return {
    close: async () => {
      published.delete(master);
      for (const close of closers) await close();
    },
  };
}

/**
 * Workers answer GET /ecv on the app port (worker/ecv.ts) with the master's verdict: each new
 * worker learns it at spawn, every worker on each change. The change on a drain is sent inside
 * the master's 'state' event, so it reaches the workers before their drain order does.
 */
function bridgeEcvToWorkers(master: Master, readiness: Readiness): () => void {
  const message = (available: boolean) => ({ type: 'sockrun:ecv' as const, available, since: readiness.since.getTime() });
  const onChange = (available: boolean) => master.broadcast(message(available));
  const onSpawn = (w: { send(m: ReturnType<typeof message>): void }) => w.send(message(readiness.isAvailable()));
  readiness.on('change', onChange);
  master.on('spawn', onSpawn);
  return () => {
    readiness.off('change', onChange);
    master.off('spawn', onSpawn);
  };
}
