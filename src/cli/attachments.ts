/**
 * Observers started with the master: each gets the master, the configuration and the logger,
 * and returns something to close at exit. The admin port, metrics and systemd notify register
 * here so run.ts stays a straight line.
 */
import type { Logger } from 'pino';
import type { Configuration } from '../config/resolve';
import type { Master } from '../master/master';
import { attachSystemdNotify } from '../systemd/attach';
import { attachAdmin } from '../admin';
import { attachDelegation } from '../master/delegate';

export interface Attachment {
  close(): Promise<void> | void;
}

export type Attach = (master: Master, config: Configuration, log: Logger) => Promise<Attachment>;

export const attachments: Attach[] = [attachSystemdNotify];

attachments.push(attachAdmin);
// Workers' delegate() requests: with no handlers here, fail them at once (a Cluster master has its own router).
attachments.push(attachDelegation);
