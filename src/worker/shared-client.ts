/**
 * The worker's side of shared sockets (the master's is sockets/shared.ts): ask the master for
 * the socket of an app server's own address, give it back when that server closes. The worker's
 * own threads have no IPC channel; they ask the main thread over a BroadcastChannel, which asks
 * the master for them (thread-listen.ts).
 */
import { holdChannel } from './channel-hold';
import net = require('node:net');
import os = require('node:os');
import dc = require('node:diagnostics_channel');
import type { MasterMessage, SharedAddress } from '../protocol';

/** A socket received from the master: a libuv TCP or Pipe handle, bound, not listening. */
export interface SharedHandle {
  fd: number;
}

/** Between a worker thread and its main thread (BroadcastChannel `threadChannel(pid)`). */
export type ThreadRequest = { op: 'open'; id: string; address: SharedAddress } | { op: 'close'; address: SharedAddress };
export type ThreadReply = { id: string; fd?: number; error?: { code: string; message: string } };

const pending = new Map<number, { address: SharedAddress; resolve: (h: SharedHandle) => void; reject: (e: Error) => void }>();
let nextId = 1;
let listening = false;

/** True when a master can share sockets with this process (a spawned worker, not `--workers 0`). */
export function canShare(): boolean {
  return Boolean(process.send && process.connected);
}

/** Asks the master for the shared socket of `address`; rejects with a Node-style listen error. */
export function openShared(address: SharedAddress): Promise<SharedHandle> {
  listenForReplies();
  const id = nextId++;
  const release = holdChannel();
  return new Promise((resolve, reject) => {
    pending.set(id, {
      address,
      resolve: (h) => (release(), resolve(h)),
      reject: (e) => (release(), reject(e)),
    });
    process.send!({ type: 'sockrun:share', op: 'open', id, address }, undefined, {}, () => {});
  });
}

/** Tells the master one server of this worker no longer listens on `address`. */
export function closeShared(address: SharedAddress): void {
  if (canShare()) process.send!({ type: 'sockrun:share', op: 'close', id: 0, address }, undefined, {}, () => {});
}

function listenForReplies(): void {
  if (listening) return;
  listening = true;
  process.on('message', (m: MasterMessage, handle?: SharedHandle) => {
    if (m?.type !== 'sockrun:shared') return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error || !handle) p.reject(listenError(m.error?.code ?? 'EINVAL', m.error?.message ?? 'no socket received', p.address));
    else p.resolve(handle);
  });
  process.once('disconnect', () => {
    for (const [id, p] of pending) {
      pending.delete(id);
      p.reject(listenError('ECONNRESET', 'the sockrun master went away', p.address));
    }
  });
}

/** How long an answer to a thread is kept for a repeated question (threads repeat every ASK_AGAIN_MS). */
const FORGET_ANSWER_MS = 10_000;
/** A thread asks again this often until its main thread answers. */
export const ASK_AGAIN_MS = 100;

/** The channel a worker's threads ask its main thread on. */
export function threadChannel(pid: number): string {
  return `sockrun:listen:${pid}`;
}

/**
 * Answers this worker's threads, from the app's first `new Worker()` on: node:worker_threads is
 * not loaded into a worker that never starts a thread (issue 16). The 'worker_threads'
 * diagnostics channel is published inside the Worker constructor, long before the thread has
 * booted far enough to ask; process 'worker' (a tick later) covers lines without it. When a
 * module required before sockrun's preload (--node-args, NODE_OPTIONS) already loaded
 * node:worker_threads, its threads may exist already: answer at once. A thread repeats its
 * question until answered (thread-listen.ts), so one asked before this is not lost either.
 */
export function serveThreads(): void {
  if ((process as { moduleLoadList?: string[] }).moduleLoadList?.includes('NativeModule worker_threads')) return answerThreads();
  let serving = false;
  const onThread = (): void => {
    if (serving) return;
    serving = true;
    dc.unsubscribe('worker_threads', onThread);
    process.removeListener('worker', onThread);
    answerThreads();
  };
  dc.subscribe('worker_threads', onThread);
  process.on('worker', onThread);
}

/**
 * A socket handed to a thread is its own from then on (its server closes the descriptor), so the
 * main thread never closes the handle it received for it. The channel does not keep the worker
 * alive.
 */
function answerThreads(): void {
  const { BroadcastChannel } = require('node:worker_threads') as typeof import('node:worker_threads');
  const channel = new BroadcastChannel(threadChannel(process.pid));
  channel.unref();
  const given: SharedHandle[] = [];
  // A question repeated while it was being answered is answered once; its answer is sent again.
  const answers = new Map<string, ThreadReply | undefined>();
  channel.onmessage = (event) => {
    const request = (event as { data: ThreadRequest }).data;
    if (request.op === 'close') return closeShared(request.address);
    if (answers.has(request.id)) {
      const known = answers.get(request.id);
      if (known) channel.postMessage(known);
      return;
    }
    answers.set(request.id, undefined);
    const reply = (r: ThreadReply) => {
      answers.set(request.id, r);
      setTimeout(() => answers.delete(request.id), FORGET_ANSWER_MS).unref();
      channel.postMessage(r);
    };
    openShared(request.address).then(
      (handle) => {
        given.push(handle);
        reply({ id: request.id, fd: handle.fd });
      },
      (err: NodeJS.ErrnoException) => reply({ id: request.id, error: { code: err.code ?? 'EINVAL', message: err.message } }),
    );
  };
}

/** Resolves a host name the way Node's listen() does (dns.lookup, first answer); IPs and paths as they are. */
export async function resolveShared(address: SharedAddress): Promise<SharedAddress> {
  if (address.kind === 'unix' || address.host === undefined || net.isIP(address.host)) return address;
  // Loaded here: only an internal server on a host name needs it.
  const { address: ip } = await (require('node:dns/promises') as typeof import('node:dns/promises')).lookup(address.host);
  return { ...address, host: ip };
}

/** The error Node's own listen() emits (`listen EADDRINUSE: address already in use 127.0.0.1:9100`). */
export function listenError(code: string, message: string, address: SharedAddress): NodeJS.ErrnoException {
  const where = address.kind === 'unix' ? address.path : `${address.host ?? '::'}:${address.port}`;
  const err = new Error(message.startsWith('listen ') ? message : `listen ${code}: ${message} ${where}`) as NodeJS.ErrnoException & { address?: string; port?: number };
  err.code = code;
  const errno = (os.constants.errno as Record<string, number | undefined>)[code];
  if (errno !== undefined) err.errno = -errno;
  err.syscall = 'listen';
  err.address = address.kind === 'unix' ? address.path : address.host ?? '::';
  if (address.kind === 'tcp') err.port = address.port;
  return err;
}
