'use strict';
// Contender "pm2": PM2 cluster mode under pm2-runtime (no daemon: the God process is the
// pm2-runtime process the bench spawns). PM2's cluster mode is Node's cluster module with its
// default (round-robin) scheduling in the God process.
const path = require('path');

const workers = process.env.BENCH_WORKERS || '2';
const env = { PORT: process.env.PORT || '3000', HOST: '127.0.0.1' };
for (const k of ['HELLO_STATS_DIR', 'HELLO_SLOW_MS', 'HELLO_METRICS']) if (process.env[k]) env[k] = process.env[k];
// BENCH_APP: another app of bench/apps (h2.js, ws.js); BENCH_KILL_TIMEOUT_MS: PM2's kill_timeout
// (SIGINT, then SIGKILL this much later; PM2's default is 1.6 s).
const killTimeout = Number(process.env.BENCH_KILL_TIMEOUT_MS) || undefined;

module.exports = {
  apps: [{
    name: 'hello',
    script: path.join(__dirname, process.env.BENCH_APP || 'hello.js'),
    exec_mode: 'cluster',
    instances: workers === 'auto' ? 'max' : Number(workers),
    env,
    autorestart: true,
    merge_logs: true,
    ...(killTimeout ? { kill_timeout: killTimeout } : {}),
  }],
};
