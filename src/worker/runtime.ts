/**
 * The worker process's own side of sockrun: it redirects the app's listen() calls to the
 * inherited sockets, counts connections and requests, pings the master with stats, and drains
 * when told to. Loaded before the app by preload.ts. (The master's view of a worker is
 * master/worker-handle.ts; the two share only protocol.ts.)
 */
import * as net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MasterMessage, SocketInfo, WorkerEnv, WorkerMessage, WorkerStats, isMasterMessage } from '../protocol';
import { installEcvOnAppPort } from './ecv';
import { handOverEnv, warnOnOwnCluster } from './inheritance';
import { redirectListen } from './listen';
import { installWorkerMetrics } from './metrics';
import { canShare } from './shared-client';

/** Idle keep-alive connections are closed this long after a drain starts (or after their last request). */
const DRAIN_IDLE_GRACE_MS = 1000;
/** After the master is gone, a worker finishes what it can for this long, then exits. */
const ORPHAN_EXIT_MS = 900;

interface ConnState { inFlight: number; lastActive: number; server: net.Server }
type Hook = () => unknown;

/**
 * Process-wide state, on a global symbol: an app may load its own copy of sockrun (its
 * node_modules) next to the one the master preloaded; both copies must see the same sockets,
 * hooks and counters.
 */
interface RuntimeState {
  tracked: Map<net.Server, SocketInfo>;
  connections: Map<net.Socket, ConnState>;
  listeningFds: Set<number>;
  shutdownHooks: Hook[];
  messageHandlers: ((m: MasterMessage) => void)[];
  stats: { connectionsTotal: number; requestsTotal: number };
  sockets: SocketInfo[];
  draining: boolean;
  idleTimeoutMs: number;
}
const STATE = Symbol.for('sockrun.worker.runtime');
const state: RuntimeState = ((globalThis as Record<symbol, unknown>)[STATE] as RuntimeState | undefined) ?? ((globalThis as Record<symbol, unknown>)[STATE] = {
  tracked: new Map(),
  connections: new Map(),
  listeningFds: new Set(),
  shutdownHooks: [],
  messageHandlers: [],
  stats: { connectionsTotal: 0, requestsTotal: 0 },
  sockets: [],
  draining: false,
  idleTimeoutMs: 0,
} satisfies RuntimeState) as RuntimeState;
const { tracked, connections, listeningFds, shutdownHooks, messageHandlers, stats } = state;

export function inheritedSockets(): SocketInfo[] {
  return state.sockets;
}

/** True once this worker was told to drain (SIGTERM, master request or master gone). */
export function isDraining(): boolean {
  return state.draining;
}

/** Runs `hook` (awaited) after the servers closed and before the worker exits on a drain. */
export function onShutdown(hook: Hook): void {
  shutdownHooks.push(hook);
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
  state.idleTimeoutMs = Number(env[WorkerEnv.IDLE_TIMEOUT_MS] ?? 0);
  // Apps that read socket activation themselves see systemd's layout, addressed to them.
  env.LISTEN_PID = String(process.pid);
  env.LISTEN_FDS = String(sockets.length);
  env.LISTEN_FDNAMES = sockets.map((s) => s.name).join(':');

  patchListen();
  startPings(Number(env[WorkerEnv.PING_INTERVAL_MS] ?? 1000));
  installEcvOnAppPort(env, sockets, onMasterMessage);
  installWorkerMetrics({ onMasterMessage, sendToMaster, onShutdown });
  handOverEnv(env, sockets, canShare());
  warnOnOwnCluster();

  process.on('message', (m: unknown) => {
    if (!isMasterMessage(m)) return;
    if (m.type === 'sockrun:drain') void drain('master');
    for (const h of messageHandlers) h(m);
  });
  // The master died (even by SIGKILL): its end of the IPC channel closed. Leave no orphan.
  process.on('disconnect', () => {
    setTimeout(() => process.exit(0), ORPHAN_EXIT_MS).unref();
    void drain('master-gone');
  });
  // Under KillMode=control-group (or a plain kill), SIGTERM reaches workers directly.
  if (handleSignals) process.on('SIGTERM', () => void drain('SIGTERM'));
  process.on('uncaughtExceptionMonitor', (err) => {
    if (listeningFds.size < state.sockets.length) {
      sendToMaster({ type: 'sockrun:boot-error', message: String(err?.message ?? err), stack: err?.stack });
    }
  });
}

/** listen() goes where the listen rule says (listen.ts, listen-map.ts). */
function patchListen(): void {
  redirectListen({ sockets: state.sockets, track, onShutdown });
}

function track(server: net.Server, socket: SocketInfo): void {
  if (tracked.has(server)) return;
  tracked.set(server, socket);
  server.on('connection', onConnection);
  // Before the app's handler: during a drain the header must be set before the app answers.
  server.prependListener('request', onRequest);
  server.once('listening', () => {
    listeningFds.add(socket.fd);
    sendToMaster({ type: 'sockrun:listening', fd: socket.fd, allListening: listeningFds.size >= state.sockets.length });
  });
}

function onConnection(this: net.Server, socket: net.Socket): void {
  stats.connectionsTotal++;
  connections.set(socket, { inFlight: 0, lastActive: Date.now(), server: this });
  socket.once('close', () => connections.delete(socket));
  if (state.idleTimeoutMs > 0) {
    socket.setTimeout(state.idleTimeoutMs);
    socket.on('timeout', () => socket.destroy());
  }
}

function onRequest(req: IncomingMessage, res: ServerResponse): void {
  stats.requestsTotal++;
  const conn = connections.get(req.socket);
  if (!conn) return;
  conn.inFlight++;
  conn.lastActive = Date.now();
  if (state.draining && !res.headersSent) res.setHeader('Connection', 'close');
  res.once('close', () => {
    conn.inFlight--;
    conn.lastActive = Date.now();
  });
}

/**
 * Stops accepting, lets in-flight requests finish (their responses carry Connection: close),
 * closes idle keep-alive connections, runs shutdown hooks, exits 0. What never finishes is
 * the master's to kill at --graceful-timeout.
 */
export async function drain(why: string): Promise<void> {
  if (state.draining) return;
  state.draining = true;
  process.env.SOCKRUN_DRAIN_REASON = why;
  const closed = [...tracked.keys()].map((server) => new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    // net's close, not http's: http.Server#close also drops idle keep-alive connections at
    // once, racing a client that is just sending its next request on one. We close those
    // ourselves, after DRAIN_IDLE_GRACE_MS without a request.
    net.Server.prototype.close.call(server, () => resolve());
  }));
  for (const socket of connections.keys()) {
    const res = (socket as net.Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (res && !res.headersSent) res.setHeader('Connection', 'close');
    else if (res) res.once('finish', () => socket.end());
  }
  const reaper = setInterval(closeIdleHttpConnections, 100);
  closeIdleHttpConnections();
  await Promise.all(closed);
  clearInterval(reaper);
  // Every connection is closed: the final counts, so the master loses none since the last ping.
  pingNow();
  for (const hook of shutdownHooks) {
    try {
      await hook();
    } catch (err) {
      console.error('sockrun: shutdown hook failed:', err);
    }
  }
  sendToMaster({ type: 'sockrun:drained' });
  process.exit(0);
}

function closeIdleHttpConnections(): void {
  const now = Date.now();
  for (const [socket, conn] of connections) {
    const isHttp = typeof (conn.server as { closeIdleConnections?: unknown }).closeIdleConnections === 'function';
    if (isHttp && conn.inFlight === 0 && now - conn.lastActive >= DRAIN_IDLE_GRACE_MS) socket.end();
  }
}

/** Sends a ping at once; set by startPings. */
let pingNow = (): void => {};

function startPings(intervalMs: number): void {
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  const ping = (): void => {
    const mem = process.memoryUsage();
    const s: WorkerStats = {
      connectionsActive: connections.size,
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
