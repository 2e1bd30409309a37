/**
 * The listen rule in a worker's threads (`new Worker(...)` in the app). Threads run without the
 * worker runtime — no stats, no pings, no drain: their servers end with the process — but their
 * servers must work with N workers as under Node's cluster: an explicit address is shared through
 * the master, asked for by the main thread (shared-client.ts, serveThreads), and a thread never
 * serves an inherited (public) socket (issue 12 item 5: an internal debug server in a thread was
 * served on the public port).
 *
 * Installed by the preload in a thread only when SOCKRUN_THREAD_LISTEN names this process: a
 * thread of a child the app spawned inherits the variable but not the pid.
 */
import net = require('node:net');
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { SharedAddress, SocketInfo, WorkerEnv } from '../protocol';
import { ListenCall, mapListen, parseListenCall } from './listen-map';
import { ASK_AGAIN_MS, ThreadReply, ThreadRequest, listenError, resolveShared, threadChannel } from './shared-client';

type Listen = typeof net.Server.prototype.listen;

/** What the worker's main thread tells its threads (WorkerEnv.THREAD_LISTEN, JSON). */
export interface ThreadListenSpec {
  pid: number;
  sockets: SocketInfo[];
}

export function installThreadListen(env: NodeJS.ProcessEnv): void {
  let spec: ThreadListenSpec;
  try {
    spec = JSON.parse(env[WorkerEnv.THREAD_LISTEN] ?? '') as ThreadListenSpec;
  } catch {
    return;
  }
  if (spec.pid !== process.pid) return;
  const original = net.Server.prototype.listen;
  let nextId = 1;

  const channel = () => new BroadcastChannel(threadChannel(spec.pid));
  // Asked again until answered: a question posted before the main thread listens is lost (shared-client.ts serveThreads).
  const ask = (request: Extract<ThreadRequest, { op: 'open' }>): Promise<ThreadReply> => new Promise((resolve) => {
    const c = channel();
    const again = setInterval(() => c.postMessage(request), ASK_AGAIN_MS);
    c.onmessage = (event) => {
      const reply = (event as { data: ThreadReply }).data;
      if (reply.id !== request.id) return;
      clearInterval(again);
      c.close();
      resolve(reply);
    };
    c.postMessage(request);
  });
  const tell = (request: ThreadRequest): void => {
    const c = channel();
    c.postMessage(request);
    c.close();
  };

  const listenShared = async (server: net.Server, call: ListenCall, address: SharedAddress): Promise<void> => {
    try {
      const resolved = await resolveShared(address);
      if (resolved !== address && resolved.kind === 'tcp') mapListen({ ...call, host: resolved.host }, spec.sockets, { thread: true });
      const reply = await ask({ op: 'open', id: `${threadId}:${nextId++}`, address: resolved });
      if (reply.fd === undefined) throw listenError(reply.error?.code ?? 'EINVAL', reply.error?.message ?? 'no socket', resolved);
      server.once('close', () => tell({ op: 'close', address: resolved }));
      original.call(server, { fd: reply.fd, backlog: call.backlog }, call.callback);
    } catch (err) {
      server.emit('error', err);
    }
  };

  net.Server.prototype.listen = function listenByTheRuleInAThread(this: net.Server, ...args: unknown[]): net.Server {
    const call = parseListenCall(args);
    const target = mapListen(call, spec.sockets, { thread: true });
    if (target.to !== 'shared') return original.apply(this, args as Parameters<Listen>);
    void listenShared(this, call, target.address);
    return this;
  } as Listen;
}
