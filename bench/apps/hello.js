'use strict';
// The benchmark's app: an ordinary, unmodified Node HTTP server, `listen(3000)` unless PORT says
// otherwise. It knows nothing of sockrun, cluster or PM2; every contender runs this same file.
//
// For the harness it only counts: every response carries x-pid, and when HELLO_STATS_DIR is set
// the process writes {pid, served} to HELLO_STATS_DIR/<pid>.json a few times a second, so the
// bench can count requests per worker (fairness) whatever runs the app. GET /slow answers after
// HELLO_SLOW_MS (the drain scenario's in-flight request). HELLO_METRICS=1 turns on prom-client's
// default metrics, as a real app would (the metrics-scrape scenario).
const http = require('http');
const fs = require('fs');
const path = require('path');

const port = Number(process.env.PORT || 3000);
const slowMs = Number(process.env.HELLO_SLOW_MS || 1000);
let served = 0;

if (process.env.HELLO_METRICS === '1') require('prom-client').collectDefaultMetrics();

const server = http.createServer((req, res) => {
  served++;
  res.setHeader('x-pid', String(process.pid));
  if (req.url === '/slow') {
    setTimeout(() => res.end('slow\n'), slowMs);
    return;
  }
  res.end('hello\n');
});

server.listen(port, process.env.HOST);

const statsDir = process.env.HELLO_STATS_DIR;
if (statsDir) {
  const file = path.join(statsDir, `${process.pid}.json`);
  let written = -1;
  const flush = () => {
    if (served === written) return;
    written = served;
    try {
      fs.writeFileSync(file, JSON.stringify({ pid: process.pid, served }));
    } catch {
      /* the bench removed the directory: nothing to report to */
    }
  };
  flush();
  setInterval(flush, 200).unref();
}
