/**
 * The worker process's own side of sockrun: it redirects the app's listen() calls to the
 * inherited sockets, counts connections and requests, pings the master with stats, and drains
 * when told to. Loaded before the app by preload.ts. (The master's view of a worker is
 * master/worker-handle.ts; the two share only protocol.ts.)
 */
import net = require('node:net');
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MasterMessage, SocketInfo, WorkerEnv, WorkerMessage, WorkerStats, isMasterMessage } from '../protocol';
import { configureDrain, connectionStats, drainConnections, exitNow, isDraining, observe, onShutdown, ownListener } from './drain';
import { releaseChannel } from './channel-hold';
import { handOverEnv, warnOnOwnCluster } from './inheritance';
import { redirectListen } from './listen';
import { installWorkerMetrics } from './metrics';
import { canShare } from './shared-client';

/** After the master is gone, a worker finishes what it can for this long, then exits. */
const ORPHAN_EXIT_MS = 900;

/**
 * Process-wide state, on a global symbol: an app may load its own copy of sockrun (its
 * node_modules) next to the one the master preloaded; both copies must see the same sockets
 * and handlers (the connections, counters and drain hooks: drain/state.ts).
 */
interface RuntimeState {
  tracked: Map<net.Server, SocketInfo>;
  listeningFds: Set<number>;
  messageHandlers: ((m: MasterMessage) => void)[];
  sockets: SocketInfo[];
}
const STATE = Symbol.for('sockrun.worker.runtime');
const state: RuntimeState = ((globalThis as Record<symbol, unknown>)[STATE] as RuntimeState | undefined) ?? ((globalThis as Record<symbol, unknown>)[STATE] = {
  tracked: new Map(),
  listeningFds: new Set(),
  messageHandlers: [],
  sockets: [],
} satisfies RuntimeState) as RuntimeState;
const { tracked, listeningFds, messageHandlers } = state;

export { isDraining, onDrain, onShutdown } from './drain';

export function inheritedSockets(): SocketInfo[] {
  return state.sockets;
}

/** Sends a message to the master; a no-op when there is no IPC channel. */
export function sendToMaster(message: WorkerMessage | Record<string, unknown>): void {
  if (process.connected && process.send) process.send(message, undefined, {}, () => {});
}

/** Lets other worker modules (metrics, delegate, ECV) receive sockrun:* messages. */
export function onMasterMessage(handler: (m: MasterMessage) => void): void {
  messageHandlers.push(handler);
}

/**
 * Installs the listen() redirect, stats, pings and drain handling. Called once by the preload;
 * single-process mode (`--workers 0`) calls it with `handleSignals: false` and drives drain()
 * itself.
 */
export function installWorkerRuntime(env: NodeJS.ProcessEnv = process.env, { handleSignals = true } = {}): void {
  if (state.sockets.length > 0) return; // installed already, by another copy of sockrun
  const sockets = (state.sockets = JSON.parse(env[WorkerEnv.SOCKETS] ?? '[]') as SocketInfo[]);
  configureDrain({ idleTimeoutMs: Number(env[WorkerEnv.IDLE_TIMEOUT_MS] ?? 0), gracefulTimeoutMs: Number(env[WorkerEnv.GRACEFUL_TIMEOUT_MS] ?? 0) });
  appShutdown = handleSignals;
  // Apps that read socket activation themselves see systemd's layout, addressed to them.
  env.LISTEN_PID = String(process.pid);
  env.LISTEN_FDS = String(sockets.length);
  env.LISTEN_FDNAMES = sockets.map((s) => s.name).join(':');

  patchListen();
  startPings(Number(env[WorkerEnv.PING_INTERVAL_MS] ?? 1000));
  // Every connection is closed: the final counts, so the master loses none since the last ping.
  onShutdown(() => pingNow());
  // Loaded only when used (issue 16: what every worker loads before the app multiplies with the workers).
  if (env[WorkerEnv.ECV_ON_APP_PORT] === '1') (require('./ecv') as typeof import('./ecv')).installEcvOnAppPort(env, sockets, onMasterMessage);
  installWorkerMetrics({ onMasterMessage, sendToMaster, onShutdown });
  handOverEnv(env, sockets, canShare());
  warnOnOwnCluster();

  process.on('message', (m: unknown) => {
    if (!isMasterMessage(m)) return;
    if (m.type === 'sockrun:drain') void drain('master');
    if (m.type === 'sockrun:self-check') {
      const server = [...tracked].find(([, socket]) => socket.fd === state.sockets[0]?.fd)?.[0];
      void (require('./self-check') as typeof import('./self-check')).selfCheck(server, m.path, m.timeoutMs).then((r) => sendToMaster({ type: 'sockrun:self-check-result', id: m.id, ...r }));
    }
    for (const h of messageHandlers) h(m);
  });
  // The master died (even by SIGKILL): its end of the IPC channel closed. Leave no orphan.
  process.on('disconnect', () => {
    setTimeout(() => exitNow(0), ORPHAN_EXIT_MS).unref();
    void drain('master-gone');
  });
  if (handleSignals) {
    // Under KillMode=control-group (or a plain kill), SIGTERM reaches workers directly; Node then
    // calls the app's own SIGTERM listeners after this one.
    process.on('SIGTERM', ownListener(() => void drain('SIGTERM', true)));
    // `systemctl kill -s HUP` reaches every process of the unit: a reload is the master's, a
    // worker must not die of it (issue 12 §7). An app's own SIGHUP listener still runs.
    process.on('SIGHUP', ownListener(() => {}));
  }
  // The app's error, for the master's log and its verdict on a reload (a worker that listens and
  // then crashes during its settle period fails the rollout with this message).
  process.on('uncaughtExceptionMonitor', (err) => {
    sendToMaster({ type: 'sockrun:boot-error', message: String(err?.message ?? err), stack: err?.stack });
  });
  // sockrun's IPC channel must not keep the app alive: an app that closes its servers, or never
  // listens and ends, exits as it would without sockrun, and the master hears of it at once
  // instead of at --boot-timeout (issue 12 §2).
  releaseChannel();
}

/** listen() goes where the listen rule says (listen.ts, listen-map.ts). */
function patchListen(): void {
  redirectListen({ sockets: state.sockets, track, onShutdown });
}

function track(server: net.Server, socket: SocketInfo): void {
  if (tracked.has(server)) return;
  tracked.set(server, socket);
  observe(server); // connections, requests, streams, for stats and the drain (drain/)
  server.once('listening', () => {
    listeningFds.add(socket.fd);
    sendToMaster({ type: 'sockrun:listening', fd: socket.fd, allListening: listeningFds.size >= state.sockets.length });
  });
  // The app closed its server outside a drain (its own shutdown path, a fatal dependency
  // error): once no server serves an inherited socket, this worker is not ready any more and
  // the master replaces it (issue 12 §2).
  server.on('close', () => {
    if (isDraining()) return;
    if (![...tracked.keys()].some((s) => s.listening)) sendToMaster({ type: 'sockrun:not-serving' });
  });
}

/** True in a worker process of its own: the drain runs the app's SIGTERM listeners and defers its exit. */
let appShutdown = false;

/**
 * Drains (drain/: stop accepting, the app's shutdown code first, then each connection by its
 * protocol), tells the master, exits with 0 or the code the app asked for. What never finishes
 * is the master's to kill at --graceful-timeout.
 */
export async function drain(why: string, bySignal = false): Promise<void> {
  const code = await drainConnections(why, { bySignal, appShutdown });
  if (code === undefined) return; // a drain is under way
  sendToMaster({ type: 'sockrun:drained' });
  exitNow(code);
}

/** Sends a ping at once; set by startPings. */
let pingNow = (): void => {};

function startPings(intervalMs: number): void {
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  const ping = (): void => {
    const mem = process.memoryUsage();
    const stats = connectionStats();
    const s: WorkerStats = {
      connectionsActive: stats.connectionsActive,
      connectionsTotal: stats.connectionsTotal,
      requestsTotal: stats.requestsTotal,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      eventLoopLagMs: Number.isFinite(delay.mean) ? Math.max(0, delay.mean / 1e6 - 20) : 0,
    };
    delay.reset();
    sendToMaster({ type: 'sockrun:ping', stats: s });
  };
  pingNow = ping;
  setInterval(ping, intervalMs).unref();
  setImmediate(ping);
}
