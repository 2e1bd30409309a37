'use strict';
/** Small loopback HTTP client helpers: one request per connection, timed, never throwing. */
const http = require('http');
const net = require('net');

const HOST = '127.0.0.1';

/**
 * GET http://127.0.0.1:port/path on a fresh connection (Connection: close), or through `agent`
 * (a keep-alive http.Agent: the connection a scraper such as Prometheus keeps between scrapes).
 * Resolves {ok, status, headers, body, ms, error, connected} — errors are values, not exceptions;
 * `connected` tells a refused connection (false) from one lost after the TCP handshake (true).
 */
function get(port, path = '/', { timeoutMs = 5000, agent } = {}) {
  const t0 = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
  return new Promise((resolve) => {
    let done = false;
    let connected = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      resolve({ ms: ms(), connected, ...r });
    };
    const req = http.request({ host: HOST, port, path, agent: agent || false, headers: agent ? {} : { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => finish({ ok: res.statusCode === 200, status: res.statusCode, headers: res.headers, body }));
      res.on('error', (err) => finish({ ok: false, error: err.code || err.message }));
    });
    req.on('socket', (sock) => {
      if (!sock.connecting) connected = true; // a kept-alive connection
      else sock.once('connect', () => (connected = true));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
    });
    req.on('error', (err) => finish({ ok: false, error: err.code || err.message }));
    req.end();
  });
}

/** A free loopback TCP port (bound and released at once). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** n distinct free ports. */
async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

module.exports = { HOST, get, freePort, freePorts };
