/**
 * `sockrun run`: gather the sockets, start the master and everything that observes it
 * (control socket, pid file; admin port, metrics and systemd notify attach here), wait for the
 * master to stop, clean up, return the exit code.
 */
import type { Logger } from 'pino';
import type { Configuration } from '../config/resolve';
import { SockrunError, usageError } from '../errors';
import { createLogger, startLogging } from '../log';
import type { Master } from '../master/master';
import type { MasterOptions } from '../master/types';
import { startFirstWorkers } from '../master/worker-handle';
import { WorkerEnv } from '../protocol';
import { inspectorWarnings, planNodeArgs, typescriptWarning } from '../config/node-args';
import { Release, logicalPaths, resolveRelease } from '../master/release';
import { gatherSockets } from '../sockets/gather';
import { parseListenFds, unsetListenEnv } from '../sockets/listen-fds';
import { releaseSocket } from '../sockets/hold';
import { checkAdminOptions } from '../admin/option-checks';
import type { Attachment } from './attachments';
import { routeSignals, signalsCaughtEarly } from './early-signals';

// Required where used: what the master loads before its first spawn delays every worker (issue 16).
// The master's own code, its observers and the control socket load after it, while the workers boot.
const pidFile = () => require('./pid-file') as typeof import('./pid-file');
const parentWatch = () => require('./parent-watch') as typeof import('./parent-watch');

export async function runMaster(config: Configuration): Promise<number> {
  return (await startMaster(config)).finished;
}

/**
 * Everything `runMaster` does up to start(), for callers that need the Master itself (the
 * cluster2 facade, `new Cluster().listen()`): `observe` runs before start(), which announces
 * the first workers ('spawn') and lets their events through, so no event is missed.
 * `finished` resolves with the exit code once the master stopped and the control socket and
 * pid file were cleaned up.
 */
export async function startMaster(
  config: Configuration,
  observe?: (master: Master) => void,
): Promise<{ master: Master; finished: Promise<number> }> {
  const paths = logicalPaths(config.app, config.cwd);
  let release: Release;
  try {
    release = resolveRelease(paths);
  } catch (err) {
    throw new SockrunError('SOCKRUN_ERR_APP_NOT_FOUND', `app ${config.app} not found: ${(err as Error).message}`);
  }
  const app = release.app;
  const log = createLogger(config.logLevel, config.logFormat);
  const fromSystemd = parseListenFds(process.env, process.pid);
  unsetListenEnv(process.env);
  const sockets = await gatherSockets(fromSystemd, config);
  // What a failed start must undo, newest first: nothing of ours is left behind.
  const undo: (() => unknown)[] = [() => sockets.forEach(releaseSocket)];
  try {
    if (sockets.length === 0) {
      throw usageError('no socket to serve: give --listen ADDR or --fd N, or run under systemd socket activation');
    }
    const workers = config.workers === 'auto' ? (require('../master/cpus') as typeof import('../master/cpus')).usableCpus() : config.workers;
    if (workers === 0) {
      if (config.pidFile) undo.unshift(pidFile().writePidFile(config.pidFile));
      // Loaded only here: the worker runtime has no business in a master's memory otherwise.
      const { runSingleProcess } = require('./single') as typeof import('./single');
      parentWatch().watchParent(log); // first check after its signal handlers are in place
      return await runSingleProcess(config, app, sockets, log);
    }

    const nodeArgs = planNodeArgs(config.nodeArgs, process.env.NODE_OPTIONS);
    for (const warning of inspectorWarnings(nodeArgs, config)) log.warn({ inspector: nodeArgs.inspector }, warning);
    const stripsTypes = Boolean((process.features as { typescript?: string | false }).typescript);
    const tsWarning = typescriptWarning(app, config.nodeArgs, stripsTypes, process.version);
    if (tsWarning) log.warn({ app }, tsWarning);
    const options: MasterOptions = {
      paths,
      release,
      appArgs: config.appArgs,
      workers,
      reloadSurge: config.reloadSurge === 'all' ? workers : Math.min(workers, config.reloadSurge),
      settleMs: config.settleMs,
      nodeArgs,
      sockets,
      bootTimeoutMs: config.bootTimeoutMs,
      drainDelayMs: config.drainDelayMs,
      gracefulTimeoutMs: config.gracefulTimeoutMs,
      hangTimeoutMs: config.hangTimeoutMs,
      pingIntervalMs: config.pingIntervalMs,
      idleTimeoutMs: config.idleTimeoutMs,
      recycle: config.recycle,
      workerEnv: {
        ...(config.ecvOnAppPort ? { [WorkerEnv.ECV_ON_APP_PORT]: '1' } : {}),
        // Workers push the app's metrics only for a master that serves them.
        ...(config.admin !== undefined ? { [WorkerEnv.METRICS_INTERVAL_MS]: String(config.metricsIntervalMs) } : {}),
      },
      log,
      // The CLI caught signals from its first instant: they reach the master's queue when it is built.
      routeSignals: signalsCaughtEarly() ? routeSignals : undefined,
    };
    // Usage errors before the app runs; what needs the file system or the network is found below.
    checkAdminOptions(config, workers);
    // Spawn first: the workers boot while the master's own code loads (issue 16). A step below
    // that fails drains them again (abandon) before the error is reported.
    const first = startFirstWorkers(options, workers, release, (err, id) => log.error({ err, worker: id }, 'could not spawn worker'));
    const master = new (require('../master/master') as typeof import('../master/master')).Master(options, first);
    undo.unshift(() => master.abandon());
    observe?.(master);
    const stopOnCrash = installCrashGuard(master, log);
    undo.unshift(stopOnCrash);
    const stopCompacting = (require('./compact') as typeof import('./compact')).compactWhenReady(master);
    undo.unshift(stopCompacting);
    const attached: Attachment[] = [];
    for (const attach of (require('./attachments') as typeof import('./attachments')).attachments) {
      attached.push(await attach(master, config, log));
      undo.unshift(() => attached.pop()?.close());
    }
    // The control socket, then the pid file: once the pid file exists, `sockrun reload` works.
    const { startControlServer } = require('../control/server') as typeof import('../control/server');
    const { controlSocketForMaster } = require('../control/paths') as typeof import('../control/paths');
    const control = await startControlServer(master, controlSocketForMaster(process.pid, config.controlSocket), log);
    undo.unshift(() => control.close());
    const removePidFile = config.pidFile ? pidFile().writePidFile(config.pidFile) : () => {};
    logOnceListening(master, log, workers);
    master.start();
    // Loaded on the next turn, off the first workers' path: a parent that dies before is seen then.
    let stopParentWatch = (): void => {};
    let stopped = false;
    setImmediate(() => {
      if (!stopped) stopParentWatch = parentWatch().watchParent(log);
    });

    const finished = master.finished.then(async (code) => {
      stopped = true;
      for (const a of attached) await a.close();
      control.close();
      removePidFile();
      stopOnCrash();
      stopCompacting();
      stopParentWatch();
      return code;
    });
    return { master, finished };
  } catch (err) {
    for (const step of undo) await step();
    throw err;
  }
}

/**
 * pino loads (log.ts) once the first `workers` listen, the master's state changes or a worker
 * exits, whichever comes first: not while the workers boot, whose CPU it would take on a small
 * machine (issue 16). Held lines keep the time they were logged.
 */
function logOnceListening(master: Master, log: Logger, workers: number): void {
  let listened = 0;
  const start = (): void => {
    master.off('listening', onListening).off('state', start).off('exit', start);
    startLogging(log);
  };
  const onListening = (): void => {
    if (++listened >= workers) start();
  };
  master.on('listening', onListening).on('state', start).on('exit', start);
}

/** A bug in the master must not leave workers behind: kill them, then exit INTERNAL. */
function installCrashGuard(master: Master, log: Logger): () => void {
  const onFatal = (err: unknown) => {
    log.fatal({ err }, 'master crashed; killing workers');
    for (const w of master.liveWorkers()) w.signal('SIGKILL');
    process.exit(1);
  };
  process.on('uncaughtException', onFatal);
  return () => process.removeListener('uncaughtException', onFatal);
}
