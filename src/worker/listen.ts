/**
 * The listen() redirect in a worker's main thread: every `server.listen(...)` goes where the
 * listen rule (listen-map.ts) says — an inherited socket, a socket the master shares for the
 * server's own address, or Node untouched. Installed once by the worker runtime.
 */
import net = require('node:net');
import type { SharedAddress, SocketInfo } from '../protocol';
import { closeInternalServers } from './internal-servers';
import { ListenCall, ListenTarget, describeCall, mapListen, parseListenCall } from './listen-map';
import { SharedHandle, canShare, closeShared, openShared, resolveShared, serveThreads } from './shared-client';

export interface ListenRedirect {
  sockets: readonly SocketInfo[];
  /** A server now listens on an inherited socket: the runtime counts its traffic and drains it. */
  track(server: net.Server, socket: SocketInfo): void;
  onShutdown(hook: () => unknown): void;
}

type Listen = typeof net.Server.prototype.listen;

export function redirectListen({ sockets, track, onShutdown }: ListenRedirect): void {
  const original = net.Server.prototype.listen;
  const taken = new Map<number, { call: string; dropIn: boolean }>();
  const sharedServers = new Set<net.Server>();

  const listenOn = (server: net.Server, call: ListenCall, target: ListenTarget, args: unknown[]): net.Server => {
    if (target.to === 'node' || (target.to === 'shared' && !canShare())) {
      // Single process (--workers 0): nobody to share an address with; Node binds it here.
      return original.apply(server, args as Parameters<Listen>);
    }
    if (target.to === 'inherited') {
      const fd = target.socket.fd;
      taken.set(fd, { call: describeCall(call), dropIn: target.dropIn });
      server.once('close', () => taken.delete(fd));
      track(server, target.socket);
      return original.call(server, { fd, backlog: call.backlog }, call.callback);
    }
    void listenShared(server, call, target.address, args);
    return server;
  };

  const listenShared = async (server: net.Server, call: ListenCall, address: SharedAddress, args: unknown[]): Promise<void> => {
    // The app may close the server before the socket arrives: then it must not listen after all.
    let closedMeanwhile = false;
    const onClose = () => (closedMeanwhile = true);
    server.once('close', onClose);
    try {
      const resolved = await resolveShared(address);
      if (resolved !== address && resolved.kind === 'tcp') {
        // `localhost` may be the address of an inherited socket: the rule decides on the address.
        const again = mapListen({ ...call, host: resolved.host }, sockets, { taken, ownCluster: runsOwnCluster() });
        if (again.to !== 'shared') return void listenOn(server, call, again, args);
      }
      const handle = await openShared(resolved);
      if (closedMeanwhile) {
        (handle as SharedHandle & { close(): void }).close();
        return closeShared(resolved);
      }
      sharedServers.add(server);
      server.once('close', () => {
        sharedServers.delete(server);
        closeShared(resolved);
      });
      original.call(server, { handle, backlog: call.backlog } as net.ListenOptions, call.callback);
    } catch (err) {
      server.emit('error', err);
    } finally {
      server.removeListener('close', onClose);
    }
  };

  net.Server.prototype.listen = function listenByTheRule(this: net.Server, ...args: unknown[]): net.Server {
    const call = parseListenCall(args);
    return listenOn(this, call, mapListen(call, sockets, { taken, ownCluster: runsOwnCluster() }), args);
  } as Listen;

  if (canShare()) serveThreads();
  // On a drain, after the servers on the inherited sockets.
  onShutdown(() => closeInternalServers(sharedServers));
}

/** This process forked cluster workers of the app's own (`cluster` is loaded by net's listen() anyway). */
function runsOwnCluster(): boolean {
  const cluster = require('node:cluster') as import('node:cluster').Cluster;
  return cluster.isPrimary && Object.keys(cluster.workers ?? {}).length > 0;
}
