/**
 * Single-process mode (`--workers 0`, cluster2's `cluster: false`): no workers; the master
 * process loads the app itself, on the same sockets, with the same listen() redirect, idle
 * timeout and drain (SIGTERM/SIGINT: --drain-delay, then stop accepting, finish in-flight
 * requests, exit 0; what is still busy at --graceful-timeout makes it exit 9). There is no
 * fleet to supervise, so no reload (SIGHUP is logged and ignored: restart to load new code),
 * no recycling, no hang detection, and no admin port, metrics or sd_notify — run with
 * --workers 1 for those.
 */
import path = require('node:path');
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import type { Configuration } from '../config/resolve';
import { ExitCode } from '../errors';
import type { HeldSocket } from '../sockets/hold';
import { drainAfterDelay, installInProcessRuntime } from '../worker/in-process';
import { startLogging } from '../log';
import { routeSignals, signalsCaughtEarly } from './early-signals';

// A real dynamic import (CommonJS output would turn `import()` into `require()`), so that ESM
// apps load as well as CommonJS ones.
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

export async function runSingleProcess(config: Configuration, app: string, sockets: HeldSocket[], log: Logger): Promise<never> {
  installInProcessRuntime(config, sockets);
  let draining = false;
  const onStop = (signal: NodeJS.Signals) => {
    if (draining) {
      log.info({ signal }, 'second signal while draining: stopping now');
      process.exit(ExitCode.OK);
    }
    draining = true;
    log.info({ signal, state: 'DRAINING', drainDelayMs: config.drainDelayMs }, 'draining');
    drainAfterDelay(config, signal, (code) => {
      log.warn({ gracefulTimeoutMs: config.gracefulTimeoutMs }, 'still busy at the graceful timeout; exiting');
      process.exit(code);
    });
  };
  const handlers: Record<string, (signal: NodeJS.Signals) => void> = {
    SIGTERM: onStop,
    SIGINT: onStop,
    SIGQUIT: () => process.exit(ExitCode.OK),
    SIGHUP: () => log.warn('reload needs workers: single-process mode (--workers 0) ignores SIGHUP; restart to load new code'),
  };
  // The CLI caught signals from its first instant (early-signals.ts): take over from there.
  if (signalsCaughtEarly()) routeSignals((signal) => handlers[signal]?.(signal));
  else for (const [signal, handler] of Object.entries(handlers)) process.on(signal, handler);

  log.info({ state: 'STARTING', workers: 0, app }, 'single-process mode: loading the app in the master process');
  // No workers boot beside this process: the held lines go out before the app's own output.
  startLogging(log);
  process.argv = [process.argv[0], app, ...config.appArgs];
  try {
    await importModule(pathToFileURL(path.resolve(app)).href);
  } catch (err) {
    log.fatal({ err }, 'the app failed to load');
    process.exit(ExitCode.BOOT_FAILED);
  }
  return new Promise<never>(() => {});
}
