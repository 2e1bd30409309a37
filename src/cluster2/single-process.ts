/**
 * `cluster: false` (cluster2: "start the server as a single process"): no master, no workers.
 * The app binds its address itself and this process keeps cluster2's lifecycle: SIGTERM and
 * SIGINT drain (stop accepting, finish in-flight requests, close idle connections, exit 0; a
 * second one exits at once), SIGQUIT stops at once, idle connections time out, and delegate()
 * is answered by this same process's handlers.
 */
import * as net from 'node:net';
import type { ServerResponse } from 'node:http';
import type { AppSpec, Cluster, CreateApp, Listenable, RoleRunner } from './cluster';
import { ExitCode, SockrunError, usageError } from '../errors';
import { resolveConfiguration } from '../config/resolve';
import type { DelegateRouter, Peer } from '../master/delegate';
import { isMasterMessage } from '../protocol';
import { LISTEN_FDS_START, parseListenFds, unsetListenEnv } from '../sockets/listen-fds';
import { formatAddress } from '../sockets/address';
import { useInProcessMaster } from '../worker/delegate';
import { toRawOptions } from './options';

/** Idle keep-alive connections are closed this long after their last request once draining. */
const DRAIN_IDLE_GRACE_MS = 1000;

export function runSingleProcess(
  cluster: Cluster,
  createApp: CreateApp,
  onListening: ((app?: Listenable | AppSpec[]) => void) | undefined,
  router: DelegateRouter,
): RoleRunner {
  const fromSystemd = parseListenFds(process.env, process.pid);
  unsetListenEnv(process.env);
  const config = resolveConfiguration({}, process.env, toRawOptions(cluster.options, fromSystemd.length > 0), process.argv[1] ?? '', []);
  const targets: unknown[][] = fromSystemd.length > 0
    ? fromSystemd.map((s) => [{ fd: s.fd }])
    : config.listen.map(({ address }) => (address.kind === 'unix' ? [address.path] : address.host ? [address.port, address.host] : [address.port]));
  if (targets.length !== 1) {
    throw usageError(`cluster: false serves one socket, not ${targets.length} (${config.listen.map((l) => formatAddress(l.address)).join(', ') || `systemd fds from ${LISTEN_FDS_START}`})`);
  }

  // delegate() in this process is answered by this process's handlers, as a worker's would be.
  const self: Peer = { pid: process.pid, send: (m) => (isMasterMessage(m) ? deliver(m) : undefined) };
  const deliver = useInProcessMaster({ send: (request) => setImmediate(() => router.receive(self, request)) });

  const servers: net.Server[] = [];
  const connections = new Map<net.Socket, { inFlight: number; lastActive: number; http: boolean }>();
  let draining = false;
  let exiting = false;

  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    cluster.emit('stopped', code);
    process.exit(code);
  };

  const stop = async (): Promise<void> => {
    cluster.emit('SIGKILL', { pid: process.pid, type: 'master' });
    exit(ExitCode.OK);
  };

  const shutdown = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    cluster.emit('state', 'DRAINING', 'READY');
    const deadline = setTimeout(() => exit(ExitCode.DRAIN_FORCED), config.gracefulTimeoutMs);
    deadline.unref();
    for (const [socket] of connections) endWhenIdle(socket);
    const reaper = setInterval(() => {
      for (const [socket] of connections) endWhenIdle(socket);
    }, 100);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
    clearInterval(reaper);
    exit(ExitCode.OK);
  };

  // Only HTTP connections can be known to be idle; a raw TCP connection is the app's to end
  // (what is still open at the graceful timeout is cut by the exit).
  const endWhenIdle = (socket: net.Socket) => {
    const c = connections.get(socket);
    if (c?.http && c.inFlight === 0 && Date.now() - c.lastActive >= DRAIN_IDLE_GRACE_MS) socket.end();
  };

  const onSignal = (sig: NodeJS.Signals) => {
    cluster.emit(sig, { pid: process.pid, type: 'master' });
    if (sig === 'SIGQUIT' || (draining && (sig === 'SIGTERM' || sig === 'SIGINT'))) return void stop();
    if (sig === 'SIGTERM' || sig === 'SIGINT') return void shutdown();
    // SIGHUP: nothing to reload without workers; handled so it does not kill the process.
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'] as NodeJS.Signals[]) process.on(sig, () => onSignal(sig));

  createApp((app) => {
    if (Array.isArray(app)) throw usageError('cluster: false serves one app, not a list (cluster2 refused it too)');
    const result = app.listen(...targets[0], () => {
      cluster.emit('listening', process.pid);
      cluster.emit('state', 'READY', 'STARTING');
      onListening?.(app);
    });
    const server = (result instanceof net.Server ? result : app) as net.Server;
    if (!(server instanceof net.Server)) throw new TypeError('Cluster.listen(): the app\'s listen() did not return a net.Server');
    servers.push(server);
    server.on('error', (err: NodeJS.ErrnoException) => {
      const where = fromSystemd.length > 0 ? `systemd fd ${fromSystemd[0].fd}` : formatAddress(config.listen[0].address);
      const error = err.code === 'EADDRINUSE'
        ? new SockrunError('SOCKRUN_ERR_PORT_BUSY', `${where}: address already in use`)
        : new SockrunError('SOCKRUN_ERR_BIND', `${where}: cannot listen (${err.code ?? err.message})`);
      if (cluster.listenerCount('error') > 0) return void cluster.emit('error', error);
      process.stderr.write(`sockrun: ${error.message}\n`);
      process.exit(error.exitCode);
    });
    server.on('connection', (socket: net.Socket) => {
      const c = { inFlight: 0, lastActive: Date.now(), http: typeof (server as { closeIdleConnections?: unknown }).closeIdleConnections === 'function' };
      connections.set(socket, c);
      socket.once('close', () => connections.delete(socket));
      if (config.idleTimeoutMs > 0) {
        socket.setTimeout(config.idleTimeoutMs);
        socket.on('timeout', () => socket.destroy());
      }
    });
    server.on('request', (req: { socket: net.Socket }, res: ServerResponse) => {
      const c = connections.get(req.socket);
      if (!c) return;
      c.inFlight++;
      c.lastActive = Date.now();
      // The app's own 'request' listener ran first and may have answered already.
      if (draining && !res.headersSent) res.setHeader('Connection', 'close');
      res.once('close', () => {
        c.inFlight--;
        c.lastActive = Date.now();
      });
    });
  });

  return { stop, shutdown };
}
