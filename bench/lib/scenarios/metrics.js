'use strict';
/**
 * Metrics scrape latency with 2 and 16 workers: sockrun's /metrics on its admin port against
 * prom-client's AggregatorRegistry in a Node cluster primary (the usual way to expose one
 * /metrics for a cluster). Both run the same app with prom-client's default metrics on
 * (HELLO_METRICS=1), so both aggregate the same per-worker series. Scrapes alternate between
 * the two, idle, then (full mode) while wrk loads the app.
 */
const proc = require('../proc');
const wrk = require('../wrk');
const { ALL } = require('../contenders');
const { freePorts, get } = require('../http');
const { summary, fmtNum, quantile } = require('../stats');

function series(body) {
  return body.split('\n').filter((l) => l && !l.startsWith('#')).length;
}

async function scrape(inst) {
  const port = inst.name === 'sockrun' ? inst.adminPort : inst.metricsPort;
  const r = await get(port, '/metrics', { timeoutMs: 10000 });
  return { ms: r.ms, status: r.status || r.error, bytes: r.body ? Buffer.byteLength(r.body) : 0, series: r.body ? series(r.body) : 0 };
}

async function run(ctx) {
  const workerCounts = [2, 16];
  const names = ['cluster-rr', 'sockrun'].filter((n) => ctx.contenders.includes(n));
  const n = ctx.quick ? 10 : 40;
  const samples = [];
  for (const workers of workerCounts) {
    const insts = [];
    try {
      for (const name of names) {
        const [port, side] = await freePorts(2);
        insts.push(await ALL[name].start({
          port, workers, statsDir: '', env: { HELLO_METRICS: '1' },
          adminPort: name === 'sockrun' ? side : undefined, metricsPort: name === 'sockrun' ? undefined : side,
        }));
      }
      for (const inst of insts) for (let i = 0; i < 3; i++) await scrape(inst);
      for (let i = 0; i < n; i++) {
        for (const inst of insts) samples.push({ contender: inst.name, workers, load: 'idle', i, ...await scrape(inst) });
      }
      if (!ctx.quick) {
        for (const inst of insts) {
          const seconds = 3;
          const load = wrk.run(ctx.wrkBin, { port: inst.port, seconds, connections: ctx.connections, threads: ctx.threads });
          await proc.sleep(300);
          const until = proc.now() + (seconds - 0.8) * 1000;
          let i = 0;
          while (proc.now() < until) samples.push({ contender: inst.name, workers, load: 'wrk', i: i++, ...await scrape(inst) });
          await load;
        }
      }
      for (const inst of insts) {
        const mine = samples.filter((s) => s.contender === inst.name && s.workers === workers && s.load === 'idle');
        const ms = mine.map((s) => s.ms);
        ctx.log(`  ${workers} workers ${inst.name.padEnd(10)} idle scrape p50 ${quantile(ms, 0.5).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms, ${mine[0].bytes} bytes, ${mine[0].series} series, status ${mine[0].status}`);
      }
    } finally {
      for (const inst of insts) await inst.stop();
    }
  }
  const t = ['| workers | contender | load | scrapes | p50 ms | p90 ms | max ms | non-200 | body bytes | series |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const workers of workerCounts) {
    for (const load of ['idle', 'wrk']) {
      for (const name of names) {
        const mine = samples.filter((s) => s.contender === name && s.workers === workers && s.load === load);
        if (!mine.length) continue;
        const ms = mine.map((s) => s.ms);
        const bad = mine.filter((s) => s.status !== 200).length;
        const label = name === 'sockrun' ? 'sockrun /metrics' : 'cluster + AggregatorRegistry';
        t.push(`| ${workers} | ${label} | ${load === 'idle' ? 'idle' : `wrk -c${ctx.connections}`} | ${mine.length} | ${fmtNum(quantile(ms, 0.5), 1)} | ${fmtNum(quantile(ms, 0.9), 1)} | ${fmtNum(Math.max(...ms), 1)} | ${bad} | ${fmtNum(summary(mine.map((s) => s.bytes)).median)} | ${fmtNum(summary(mine.map((s) => s.series)).median)} |`);
      }
    }
  }
  const notes = [
    `Sequential scrapes over a new connection each, alternating between the contenders (${n} each, idle)${ctx.quick ? '' : '; then for 2.2 s each while wrk keep-alive load runs on the app port'}.`,
  ];
  const empty = samples.filter((s) => s.contender === 'sockrun' && s.status === 200 && s.series === 0);
  if (empty.length) notes.push(`sockrun answered /metrics with 200 and an empty body (${empty.length} scrapes): its metrics are not wired yet in this build, so its latency here is that of an empty answer.`);
  return { samples, tables: [{ title: 'Metrics scrape latency', md: t.join('\n') }], notes };
}

module.exports = { name: 'metrics', title: 'Metrics scrape latency', run };
