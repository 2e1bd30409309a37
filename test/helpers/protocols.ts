/**
 * Real clients for the protocols sockrun must drain cleanly (issue 13), each counting what a user
 * of that protocol sees: Node's own HTTP/2 client holding a session, a grpc-js client, and `ws`
 * clients that reconnect as browsers' code does.
 */
import * as http2 from 'node:http2';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { WebSocket } from 'ws';
import { FIXTURES, sleep } from './sockrun';

export interface ClientTally {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  /** Answers per answering pid. */
  pids: Map<string, number>;
}

function tally(): ClientTally {
  return { ok: 0, failed: 0, errors: {}, pids: new Map() };
}

function fail(t: ClientTally, what: string): void {
  t.failed++;
  t.errors[what] = (t.errors[what] ?? 0) + 1;
}

/** `concurrency` loops each awaiting `one()` back to back until `stop()`, which then runs `done` and resolves with `result`. */
function loopUntilStopped<T>(concurrency: number, one: () => Promise<void>, result: T, done: () => void): { stop(): Promise<T>; result: T } {
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) await one();
  });
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(loops);
      done();
      return result;
    },
  };
}

function answered(t: ClientTally, pid: string | number | undefined): void {
  t.ok++;
  const key = String(pid ?? '?');
  t.pids.set(key, (t.pids.get(key) ?? 0) + 1);
}

export interface H2Tally extends ClientTally {
  /** Sessions opened: the first, then one after each GOAWAY. */
  sessions: number;
  /** Error codes of the GOAWAY frames received. */
  goaways: number[];
  /** Streams refused (REFUSED_STREAM) and sent again, as RFC 9113 §8.7 lets a client do. */
  retried: number;
}

/**
 * `concurrency` loops send streams back to back on ONE shared session, as browsers and proxies
 * do; when the server sends GOAWAY the session closes and the next stream opens a new one.
 * `paths` are used in turn (e.g. a slow one, so that streams are in flight at the GOAWAY).
 * A stream refused with REFUSED_STREAM was never processed and is sent again, as browsers,
 * grpc-js and curl do (RFC 9113 §8.7); any other stream error, or a request the session
 * refuses, is a failure.
 */
export function startH2Load(origin: string, opts: { concurrency?: number; paths?: string[]; ca?: Buffer } = {}): { stop(): Promise<H2Tally>; result: H2Tally } {
  const result: H2Tally = { ...tally(), sessions: 0, goaways: [], retried: 0 };
  const paths = opts.paths ?? ['/'];
  let session: http2.ClientHttp2Session | undefined;
  const open = (): http2.ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    result.sessions++;
    const s = http2.connect(origin, opts.ca ? { ca: opts.ca, rejectUnauthorized: false } : {});
    s.on('goaway', (code: number) => result.goaways.push(code));
    s.on('error', (err: NodeJS.ErrnoException) => fail(result, `session ${err.code ?? err.message}`));
    return (session = s);
  };
  let n = 0;
  const one = (p = paths[n++ % paths.length]): Promise<void> => new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = open().request({ ':path': p });
    } catch (err) {
      fail(result, `request ${(err as NodeJS.ErrnoException).code}`);
      return resolve();
    }
    let body = '';
    let status = 0;
    stream.setEncoding('utf8');
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => {
      if (status === 200) answered(result, /(\d+)\s*$/.exec(body)?.[1]);
      else fail(result, `status ${status}`);
      resolve();
    });
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) {
        result.retried++;
        return resolve(one(p));
      }
      fail(result, `stream ${err.code} ${err.message}`);
      resolve();
    });
  });
  return loopUntilStopped(opts.concurrency ?? 4, () => one(), result, () => session?.close());
}

const GREETER = path.join(FIXTURES, 'greeter.proto');

interface GreeterClient extends grpc.Client {
  sayHello(req: { name: string; delay_ms: number }, meta: grpc.Metadata, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, reply?: { pid: number }) => void): void;
}

/** A grpc-js client of test/fixtures/grpc.js. */
export function greeterClient(port: number): GreeterClient {
  const pkg = grpc.loadPackageDefinition(loader.loadSync(GREETER, { keepCase: true })) as unknown as {
    sockrun: { test: { Greeter: new (address: string, creds: grpc.ChannelCredentials) => GreeterClient } };
  };
  return new pkg.sockrun.test.Greeter(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

/** `concurrency` loops of unary calls (each answering after `delayMs`) on one channel, counted by status. */
export function startGrpcLoad(port: number, opts: { concurrency?: number; delayMs?: number } = {}): { stop(): Promise<ClientTally>; result: ClientTally } {
  const result = tally();
  const client = greeterClient(port);
  const call = (): Promise<void> => new Promise((resolve) => {
    client.sayHello({ name: 'load', delay_ms: opts.delayMs ?? 0 }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, reply) => {
      if (err) fail(result, `${grpc.status[err.code]}: ${err.details}`);
      else answered(result, reply?.pid);
      resolve();
    });
  });
  return loopUntilStopped(opts.concurrency ?? 4, call, result, () => client.close());
}

export interface WsSession {
  /** The pid that greeted this connection ("hello <pid>"). */
  pid: number;
  /** Close code and reason seen by the client; undefined while open. */
  close?: { code: number; reason: string; afterMs: number };
}

/**
 * A `ws` client that reconnects after each close (50 ms later, until stopped), as a browser app
 * does. Records each connection's greeting pid and the close code the client saw.
 */
export class ReconnectingWs {
  readonly sessions: WsSession[] = [];
  private running = true;
  private socket: WebSocket | undefined;

  constructor(private readonly url: string) {
    this.connect();
  }

  private connect(): void {
    if (!this.running) return;
    const ws = new WebSocket(this.url);
    this.socket = ws;
    let s: WsSession | undefined;
    ws.on('message', (data) => {
      const m = /^hello (\d+)$/.exec(String(data));
      if (m && !s) this.sessions.push((s = { pid: Number(m[1]) }));
    });
    ws.on('error', () => {}); // a refused reconnect during a shutdown: 'close' follows
    ws.on('close', (code, reason) => {
      if (s) s.close = { code, reason: String(reason), afterMs: Date.now() };
      if (this.running) void sleep(50).then(() => this.connect());
    });
  }

  /** Resolves once a connection is greeted by a pid not in `except`. */
  async greetedBy(except: number[] = [], timeoutMs = 10_000): Promise<WsSession> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.sessions.find((x) => !x.close && !except.includes(x.pid));
      if (s) return s;
      if (Date.now() > deadline) throw new Error(`no WebSocket greeted by a pid other than ${except.join(', ')}; seen: ${JSON.stringify(this.sessions)}`);
      await sleep(20);
    }
  }

  stop(): void {
    this.running = false;
    this.socket?.terminate();
  }
}
