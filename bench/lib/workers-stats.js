'use strict';
/**
 * Requests per worker, read from the files hello.js writes into its HELLO_STATS_DIR
 * (<pid>.json = {pid, served}, flushed every 200 ms). Contender-neutral: nothing here asks the
 * process manager.
 */
const fs = require('fs');
const path = require('path');
const proc = require('./proc');

/** A fresh directory for one contender's workers. */
function makeDir(label) {
  return proc.mkdtemp(`bench-stats-${label}-`);
}

/** {pid: served} for every worker that ever wrote into dir. */
function read(dir) {
  const out = {};
  let files = [];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return out;
  }
  for (const f of files) {
    if (!f.endsWith('.json')) continue;
    try {
      const s = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      out[s.pid] = s.served;
    } catch {
      /* being rewritten: the next read sees it */
    }
  }
  return out;
}

/** Per-pid requests served between two reads (pids that served nothing are dropped). */
function delta(before, after) {
  const out = {};
  for (const [pid, n] of Object.entries(after)) {
    const d = n - (before[pid] || 0);
    if (d > 0) out[pid] = d;
  }
  return out;
}

/** Share of all requests that the busiest worker served, 0–1 (1/workers is perfectly even). */
function busiestShare(perPid) {
  const counts = Object.values(perPid);
  const total = counts.reduce((a, b) => a + b, 0);
  return total === 0 ? NaN : Math.max(...counts) / total;
}

module.exports = { makeDir, read, delta, busiestShare };
