'use strict';
// The primary that the cluster contenders share: what a careful user writes around Node's cluster
// module. It forks BENCH_WORKERS workers (a number, or "auto" = os.availableParallelism())
// running hello.js, re-forks a worker that dies, prints "READY" once every worker listens, and on
// SIGTERM/SIGINT drains gracefully (worker.disconnect(): close the server, finish in-flight
// requests) before exiting 0. SIGHUP is a rolling restart as a careful user writes one: for each
// old worker, fork a replacement, wait until it listens, then SIGTERM the old one (SIGKILL after
// BENCH_KILL_TIMEOUT_MS, default 30 s); it prints "RELOADED" once every old worker exited. With
// BENCH_METRICS_PORT it serves prom-client's AggregatorRegistry at
// http://127.0.0.1:BENCH_METRICS_PORT/metrics. BENCH_APP names the app in bench/apps (default hello.js).
const cluster = require('cluster');
const http = require('http');
const os = require('os');
const path = require('path');

const want = process.env.BENCH_WORKERS === 'auto' || !process.env.BENCH_WORKERS
  ? os.availableParallelism()
  : Number(process.env.BENCH_WORKERS);
const metricsPort = Number(process.env.BENCH_METRICS_PORT || 0);

cluster.setupPrimary({
  exec: path.join(__dirname, process.env.BENCH_APP || 'hello.js'),
  execArgv: metricsPort ? ['-r', path.join(__dirname, 'cluster-metrics-worker.js')] : [],
});

let draining = false;
let readyPrinted = false;
const listening = new Set();
// Worker processes still running. Not cluster.workers: a worker leaves that map when its IPC
// channel closes (disconnect), while it may still be finishing requests.
const running = new Set();

// Old workers asked to stop by a rolling restart: their exit is not a crash to re-fork.
const retiring = new Set();
const killTimeoutMs = Number(process.env.BENCH_KILL_TIMEOUT_MS || 30000);

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
  return w;
}

cluster.on('exit', (w) => {
  listening.delete(w.id);
  running.delete(w.id);
  if (retiring.delete(w.id)) {
    if (retiring.size === 0 && !reloading) process.stdout.write('RELOADED\n');
    return;
  }
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

let reloading = false;
async function rollingRestart() {
  if (reloading || draining) return;
  reloading = true;
  for (const old of Object.values(cluster.workers)) {
    if (!old || retiring.has(old.id)) continue;
    await new Promise((resolve) => fork().once('listening', resolve));
    retiring.add(old.id);
    old.process.kill('SIGTERM');
    const timer = setTimeout(() => old.process.kill('SIGKILL'), killTimeoutMs);
    old.process.once('exit', () => clearTimeout(timer));
  }
  reloading = false;
  if (retiring.size === 0) process.stdout.write('RELOADED\n');
}
process.on('SIGHUP', rollingRestart);

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
