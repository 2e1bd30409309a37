/**
 * A worker checks its own app (issue 12 §1: during a reload, `--ecv-monitor` must pass against
 * the *new* generation). A request through the shared listening socket could reach any worker,
 * old or new; so the master asks the new worker itself, which hands an in-memory connection to
 * its own HTTP server — the app answers it exactly as it answers a client, on this process.
 *
 * Plain HTTP/1 servers only: a TLS or HTTP/2 server is not checked in-process (the answer says
 * so, and passes: the periodic monitor through the socket still covers it).
 */
import http = require('node:http');
import { Duplex } from 'node:stream';
import { SELF_CHECK } from './drain/state';

/** One end of an in-memory connection; writes appear on the peer. */
class Pipe extends Duplex {
  peer!: Pipe;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 0;
  readonly [SELF_CHECK] = true;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.peer.push(chunk);
    done();
  }
  override _final(done: () => void): void {
    this.peer.push(null);
    done();
  }
  // What http.Server calls on a net.Socket; an in-memory pipe has nothing to set.
  setTimeout(): this { return this; }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
}

function pipePair(): [Pipe, Pipe] {
  const a = new Pipe();
  const b = new Pipe();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** GETs `path` from `server` in-process; 2xx passes. Never rejects. */
export function selfCheck(server: unknown, path: string, timeoutMs: number): Promise<{ ok: boolean; message: string }> {
  // node:https is loaded here, not at the top: it brings TLS and crypto (~13 ms) into every worker's start.
  if (!(server instanceof http.Server) || server instanceof (require('node:https') as typeof import('node:https')).Server) {
    return Promise.resolve({ ok: true, message: 'not checked in-process (not a plain HTTP/1 server)' });
  }
  return new Promise((resolve) => {
    const [client, serverEnd] = pipePair();
    let head = '';
    const started = Date.now();
    const done = (ok: boolean, message: string) => {
      clearTimeout(timer);
      client.destroy();
      serverEnd.destroy();
      resolve({ ok, message });
    };
    const timer = setTimeout(() => done(false, `GET ${path}: no answer within ${timeoutMs} ms`), timeoutMs);
    client.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const line = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (line) done(line[1].startsWith('2'), `GET ${path} → ${line[1]} in ${Date.now() - started} ms (in-process)`);
      else if (head.length > 1024 || head.includes('\r\n')) done(false, `GET ${path}: not an HTTP answer`);
    });
    client.on('end', () => done(false, `GET ${path}: connection closed without an answer`));
    server.emit('connection', serverEnd);
    client.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sockrun-ecv-monitor\r\nConnection: close\r\n\r\n`);
  });
}
