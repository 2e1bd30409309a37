'use strict';
// Contender "pm2": PM2 cluster mode under pm2-runtime (no daemon: the God process is the
// pm2-runtime process the bench spawns). PM2's cluster mode is Node's cluster module with its
// default (round-robin) scheduling in the God process.
const path = require('path');

const workers = process.env.BENCH_WORKERS || '2';
const env = { PORT: process.env.PORT || '3000', HOST: '127.0.0.1' };
for (const k of ['HELLO_STATS_DIR', 'HELLO_SLOW_MS', 'HELLO_METRICS']) if (process.env[k]) env[k] = process.env[k];

module.exports = {
  apps: [{
    name: 'hello',
    script: path.join(__dirname, 'hello.js'),
    exec_mode: 'cluster',
    instances: workers === 'auto' ? 'max' : Number(workers),
    env,
    autorestart: true,
    merge_logs: true,
  }],
};
