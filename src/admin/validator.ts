/**
 * A user validator (--validator ./check.js, cluster2's validators): a module exporting an async
 * function; readiness fails with its error message while it throws, rejects or returns false.
 *
 * It runs in a worker thread, not on the master's loop: a validator that blocks (a synchronous
 * loop, a stuck native call) would otherwise stall the admin port and supervision, and /livez
 * would then restart a pod because of the app's own health check. In a thread, a run past the
 * timeout is abandoned and the thread terminated; the next run loads the module afresh.
 */
import fs = require('node:fs');
import path = require('node:path');
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { usageError } from '../errors';
import { CheckOutcome, oneLine } from './checks';

const THREAD = path.join(__dirname, 'validator-thread.js');

/** What the validator function receives: where the app listens, nothing secret. */
export interface ValidatorContext {
  /** `http://127.0.0.1:8080` for the first TCP socket of the app; undefined for a unix socket. */
  url: string | undefined;
  sockets: { name: string; kind: string; host?: string; port?: number; path?: string }[];
}

type Reply = { type: 'loaded'; error?: string } | { type: 'result'; id: number; ok: boolean; message: string };

export class Validator {
  private thread: Worker | undefined;
  private readonly pending = new Map<number, { thread: Worker; settle: (r: { ok: boolean; message: string }) => void }>();
  private nextId = 1;
  private closed = false;

  constructor(readonly file: string, private readonly context: ValidatorContext, private readonly log: Logger) {}

  /** Loads the module once at start, so a wrong path or a module without a function is a usage error, not a silent 503. */
  async load(): Promise<void> {
    if (!fs.existsSync(this.file)) throw usageError(`--validator ${this.file}: no such file`);
    try {
      this.thread = await this.spawn();
    } catch (err) {
      throw usageError(`--validator ${this.file}: cannot load it: ${oneLine((err as Error).message)}`);
    }
  }

  /** One run; never rejects. */
  async run(timeoutMs: number): Promise<CheckOutcome> {
    const fail = (message: string): CheckOutcome => ({ ok: false, message: oneLine(message), at: Date.now() });
    if (this.closed) return fail('stopped');
    if (!this.thread) {
      try {
        this.thread = await this.spawn();
      } catch (err) {
        return fail(`cannot load ${this.file}: ${(err as Error).message}`);
      }
    }
    const thread = this.thread;
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.log.warn({ validator: this.file, timeoutMs }, 'validator did not answer in time; restarting its thread');
        this.discard(thread);
        resolve(fail(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, {
        thread,
        settle: (r) => {
          clearTimeout(timer);
          resolve({ ok: r.ok, message: oneLine(r.message), at: Date.now() });
        },
      });
      thread.postMessage({ id });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const t = this.thread;
    this.thread = undefined;
    await t?.terminate();
  }

  private spawn(): Promise<Worker> {
    return new Promise((resolve, reject) => {
      const thread = new Worker(THREAD, { workerData: { file: path.resolve(this.file), context: this.context } });
      thread.unref();
      let loaded = false;
      thread.on('message', (m: Reply) => {
        if (m.type === 'loaded') {
          if (m.error === undefined) {
            loaded = true;
            return resolve(thread);
          }
          void thread.terminate();
          return reject(new Error(m.error));
        }
        const entry = this.pending.get(m.id);
        this.pending.delete(m.id);
        entry?.settle(m);
      });
      // An exception escaping the validator (a stray timer, an unhandled rejection) ends the
      // thread: every run in flight fails, and the next one starts a fresh thread.
      thread.on('error', (err) => {
        if (!loaded) return reject(err);
        this.log.warn({ validator: this.file, err: { message: err.message } }, 'validator thread crashed');
        this.failPending(thread, `crashed: ${err.message}`);
      });
      thread.on('exit', (code) => {
        if (!loaded) return reject(new Error(`its thread exited (code ${code}) while loading`));
        if (this.thread === thread) this.thread = undefined;
        this.failPending(thread, `its thread exited (code ${code})`);
      });
    });
  }

  private discard(thread: Worker): void {
    if (this.thread === thread) this.thread = undefined;
    void thread.terminate();
  }

  private failPending(thread: Worker, message: string): void {
    for (const [id, entry] of this.pending) {
      if (entry.thread !== thread) continue;
      this.pending.delete(id);
      entry.settle({ ok: false, message });
    }
  }
}
