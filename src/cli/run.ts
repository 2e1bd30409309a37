/**
 * `sockrun run`: gather the sockets, start the master and everything that observes it
 * (control socket, pid file; admin port, metrics and systemd notify attach here), wait for the
 * master to stop, clean up, return the exit code.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { Configuration } from '../config/resolve';
import { SockrunError, usageError } from '../errors';
import { createLogger, startLogging } from '../log';
import { Master } from '../master/master';
import { WorkerEnv } from '../protocol';
import { usableCpus } from '../master/cpus';
import { gatherSockets } from '../sockets/gather';
import { parseListenFds, unsetListenEnv } from '../sockets/listen-fds';
import { controlSocketPath } from '../control/paths';
import { startControlServer } from '../control/server';
import { isAlive } from '../control/client';
import { Attachment, attachments } from './attachments';

export async function runMaster(config: Configuration): Promise<number> {
  return (await startMaster(config)).finished;
}

/**
 * Everything `runMaster` does up to the first spawn, for callers that need the Master itself
 * (the cluster2 facade, `new Cluster().listen()`): `observe` runs before any worker is spawned,
 * so no event is missed. `finished` resolves with the exit code once the master stopped and the
 * control socket and pid file were cleaned up.
 */
export async function startMaster(
  config: Configuration,
  observe?: (master: Master) => void,
): Promise<{ master: Master; finished: Promise<number> }> {
  const app = path.resolve(config.app);
  if (!fs.existsSync(app) || !fs.statSync(app).isFile()) {
    throw new SockrunError('SOCKRUN_ERR_APP_NOT_FOUND', `app ${config.app} not found (${app})`);
  }
  const log = createLogger(config.logLevel, config.logFormat);
  const fromSystemd = parseListenFds(process.env, process.pid);
  unsetListenEnv(process.env);
  const sockets = await gatherSockets(fromSystemd, config);
  if (sockets.length === 0) {
    throw usageError('no socket to serve: give --listen ADDR or --fd N, or run under systemd socket activation');
  }
  const workers = config.workers === 'auto' ? usableCpus() : config.workers;
  if (config.pidFile) writePidFile(config.pidFile);
  if (workers === 0) {
    // Loaded only here: the worker runtime has no business in a master's memory otherwise.
    const { runSingleProcess } = require('./single') as typeof import('./single');
    return runSingleProcess(config, app, sockets, log);
  }

  const master = new Master({
    app,
    appArgs: config.appArgs,
    workers,
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
  });
  observe?.(master);
  const stopOnCrash = installCrashGuard(master, log);
  const socketPath = controlSocketPath(process.pid, config.controlSocket);
  const control = await startControlServer(master, socketPath, log);
  const attached: Attachment[] = [];
  for (const attach of attachments) attached.push(await attach(master, config, log));
  master.start();
  // The first spawn is queued (setImmediate) by start(): pino loads right after it (log.ts).
  setImmediate(() => startLogging(log));

  const finished = master.finished.then(async (code) => {
    for (const a of attached) await a.close();
    control.close();
    fs.rmSync(socketPath, { force: true });
    if (config.pidFile) fs.rmSync(config.pidFile, { force: true });
    stopOnCrash();
    return code;
  });
  return { master, finished };
}

function writePidFile(file: string): void {
  try {
    const old = fs.readFileSync(file, 'utf8').trim();
    if (/^\d+$/.test(old) && Number(old) !== process.pid && isAlive(Number(old)) && isSockrun(Number(old))) {
      throw usageError(`--pid-file ${file}: another sockrun master (pid ${old}) is running`);
    }
  } catch (err) {
    if (err instanceof SockrunError) throw err;
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `${process.pid}\n`);
}

function isSockrun(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sockrun');
  } catch {
    return false;
  }
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
