'use strict';
// The primary that the cluster contenders share: what a careful user writes around Node's cluster
// module. It forks BENCH_WORKERS workers (a number, or "auto" = os.availableParallelism())
// running hello.js, re-forks a worker that dies, prints "READY" once every worker listens, and on
// SIGTERM/SIGINT drains gracefully (worker.disconnect(): close the server, finish in-flight
// requests) before exiting 0. With BENCH_METRICS_PORT it serves prom-client's
// AggregatorRegistry at http://127.0.0.1:BENCH_METRICS_PORT/metrics.
const cluster = require('cluster');
const http = require('http');
const os = require('os');
const path = require('path');

const want = process.env.BENCH_WORKERS === 'auto' || !process.env.BENCH_WORKERS
  ? os.availableParallelism()
  : Number(process.env.BENCH_WORKERS);
const metricsPort = Number(process.env.BENCH_METRICS_PORT || 0);

cluster.setupPrimary({
  exec: path.join(__dirname, 'hello.js'),
  execArgv: metricsPort ? ['-r', path.join(__dirname, 'cluster-metrics-worker.js')] : [],
});

let draining = false;
let readyPrinted = false;
const listening = new Set();
// Worker processes still running. Not cluster.workers: a worker leaves that map when its IPC
// channel closes (disconnect), while it may still be finishing requests.
const running = new Set();

function fork() {
  const w = cluster.fork();
  running.add(w.id);
  w.on('listening', () => {
    listening.add(w.id);
    if (!readyPrinted && listening.size >= want) {
      readyPrinted = true;
      process.stdout.write('READY\n');
    }
  });
}

cluster.on('exit', (w) => {
  listening.delete(w.id);
  running.delete(w.id);
  if (draining) {
    if (running.size === 0) process.exit(0);
    return;
  }
  fork();
});

for (let i = 0; i < want; i++) fork();

function drain() {
  if (draining) process.exit(1); // a second signal: stop now
  draining = true;
  if (running.size === 0) process.exit(0);
  for (const w of Object.values(cluster.workers)) w.disconnect();
  setTimeout(() => process.exit(1), 30000).unref();
}
process.on('SIGTERM', drain);
process.on('SIGINT', drain);

if (metricsPort) {
  const { AggregatorRegistry } = require('prom-client');
  const registry = new AggregatorRegistry();
  http.createServer(async (req, res) => {
    try {
      const text = await registry.clusterMetrics();
      res.setHeader('content-type', registry.contentType);
      res.end(text);
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err && err.message));
    }
  }).listen(metricsPort, '127.0.0.1');
}
