/**
 * Observers started with the master: each gets the master, the configuration and the logger,
 * and returns something to close at exit. The admin port, metrics and systemd notify register
 * here so run.ts stays a straight line.
 *
 * Each is loaded only when the options or the environment give it work: a master without
 * --admin outside systemd never loads the admin port (node:http, its checks, the validator
 * thread) or the notify transport. They load after the first spawn, while the workers boot, and
 * attach before Master.start() announces them (issue 16: ~15 ms of CPU and ~1 MB of RSS saved
 * when unused).
 */
import type { Logger } from 'pino';
import type { Configuration } from '../config/resolve';
import type { Master } from '../master/master';
import type { WorkerHandle } from '../master/worker-handle';
import { isCluster2DelegateRequest, isWorkerMessage } from '../protocol';

export interface Attachment {
  close(): Promise<void> | void;
}

export type Attach = (master: Master, config: Configuration, log: Logger) => Promise<Attachment>;

const idle: Attachment = { close: () => undefined };

/** Options that need the admin module: it serves them, or warns that they need --admin. */
const ADMIN_OPTIONS = ['admin', 'ecvOnAppPort', 'adminTokenFile', 'ecvMonitor', 'validator', 'minReady'] as const;

export const attachments: Attach[] = [
  // sd_notify is a no-op outside systemd (no NOTIFY_SOCKET).
  async (master, config, log) => (process.env.NOTIFY_SOCKET
    ? (require('../systemd/attach') as typeof import('../systemd/attach')).attachSystemdNotify(master, config, log)
    : idle),
];

attachments.push(async (master, config, log) => (ADMIN_OPTIONS.some((k) => config[k] !== undefined && config[k] !== false)
  ? (require('../admin') as typeof import('../admin')).attachAdmin(master, config, log)
  : idle));
/**
 * Workers' delegate() requests: with no handlers here, fail them at once (a Cluster master has
 * its own router). The router loads with the first request: most apps never delegate (issue 16).
 */
export const attachDelegation: Attach = async (master, _config, log) => {
  let router: Attachment | undefined;
  const onMessage = (w: WorkerHandle, m: unknown): void => {
    if (!isCluster2DelegateRequest(m) && !(isWorkerMessage(m) && m.type === 'sockrun:delegate')) return;
    master.off('message', onMessage);
    router = (require('../master/delegate') as typeof import('../master/delegate')).attachDelegationFor(master, w, m, log);
  };
  master.on('message', onMessage);
  return { close: () => void (router ? router.close() : master.off('message', onMessage)) };
};
attachments.push(attachDelegation);
