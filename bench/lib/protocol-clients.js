'use strict';
/**
 * Clients for the protocol reload rows: Node's HTTP/2 client holding one session (as browsers,
 * proxies and gRPC do), and WebSocket clients (`ws`) that reconnect after a close, as browser
 * apps do. They count what a user of each protocol sees.
 */
const http2 = require('http2');
const { WebSocket } = require('ws');

/**
 * `concurrency` loops send streams back to back on ONE shared session (paths in turn); when the
 * server sends GOAWAY the session closes and the next stream opens a new one. A stream refused
 * with REFUSED_STREAM is sent again (RFC 9113 §8.7: never processed, safe to retry, as browsers
 * and grpc-js do) and counted as `retried`; any other error is a failed stream.
 */
function h2Load(port, { concurrency = 8, paths = ['/', '/slow'] } = {}) {
  const r = { ok: 0, failed: 0, retried: 0, sessions: 0, errors: {} };
  const fail = (what) => {
    r.failed++;
    r.errors[what] = (r.errors[what] || 0) + 1;
  };
  let session;
  const open = () => {
    if (session && !session.closed && !session.destroyed) return session;
    r.sessions++;
    session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {}); // its streams report it
    return session;
  };
  let n = 0;
  let running = true;
  const one = (p = paths[n++ % paths.length]) => new Promise((resolve) => {
    let stream;
    try {
      stream = open().request({ ':path': p });
    } catch (err) {
      fail(err.code || err.message);
      return setTimeout(resolve, 5);
    }
    let status = 0;
    stream.on('response', (h) => (status = h[':status']));
    stream.resume();
    stream.on('end', () => {
      if (status === 200) r.ok++;
      else fail(status ? `status ${status}` : 'ended without a response (connection lost)');
      resolve();
    });
    stream.on('error', (err) => {
      if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) {
        r.retried++;
        return resolve(one(p));
      }
      fail(err.code || err.message);
      setTimeout(resolve, 5);
    });
  });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) await one();
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      if (session) session.destroy();
      return r;
    },
  };
}

/**
 * `count` WebSocket clients, each reconnecting 50 ms after a close until stopped. Records, per
 * client, every connection's greeting pid and the close code the client saw.
 */
function wsClients(port, count) {
  let running = true;
  const clients = Array.from({ length: count }, () => ({ sessions: [], socket: null }));
  const connect = (c) => {
    if (!running) return;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    c.socket = ws;
    const s = { pid: 0, openedAt: 0, closeCode: 0, closedAt: 0 };
    ws.on('message', (d) => {
      const m = /^hello (\d+)$/.exec(String(d));
      if (m && !s.pid) {
        s.pid = Number(m[1]);
        s.openedAt = Date.now();
        c.sessions.push(s);
      }
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      s.closeCode = code;
      s.closedAt = Date.now();
      if (running) setTimeout(() => connect(c), 50);
    });
  };
  clients.forEach(connect);
  return {
    /** Resolves once every client is greeted (connected to a worker). */
    async ready(timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      while (!clients.every((c) => c.sessions.some((s) => !s.closedAt))) {
        if (Date.now() > deadline) throw new Error('WebSocket clients did not all connect');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop() {
      running = false;
      for (const c of clients) if (c.socket) c.socket.terminate();
      return clients;
    },
  };
}

/** One h2c request on a new session: the pid that answered (for round-robin readiness probes). */
function h2Pid(port) {
  return new Promise((resolve) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    const done = (pid) => {
      s.destroy();
      resolve(pid);
    };
    s.on('error', () => done(undefined));
    const req = s.request({ ':path': '/' });
    req.on('response', (h) => done(Number(h['x-pid']) || undefined));
    req.on('error', () => done(undefined));
    req.end();
  });
}

module.exports = { h2Load, wsClients, h2Pid };
