'use strict';
/**
 * Startup: time from exec to READY (every worker listening), with 2 and 16 workers.
 * READY is each contender's own honest signal: sockrun's master state READY with every worker
 * listening (control socket status, polled every 5 ms); the cluster primary's "READY" line, printed
 * when every worker emitted 'listening'; for PM2, answers from N distinct worker pids (its
 * round-robin hands successive connections to successive listening workers); for a single
 * process, its first answer.
 */
const { ALL } = require('../contenders');
const { freePort } = require('../http');
const { fmtNum, fmtSpread, summary } = require('../stats');

const GOAL_RATIO = 1.1;

const ORDER = ['single', 'cluster-rr', 'pm2', 'sockrun'];

async function run(ctx) {
  const names = ORDER.filter((n) => ctx.contenders.includes(n) && !(ctx.quick && n === 'single'));
  const reps = ctx.quick ? 2 : 5;
  const samples = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const workers of [2, 16]) {
      for (const name of names) {
        if (name === 'single' && workers !== 2) continue;
        // --quick: PM2's 16-worker start alone takes 2–5 s; the full run has it.
        if (ctx.quick && name === 'pm2' && workers === 16) continue;
        const port = await freePort();
        const inst = await ALL[name].start({ port, workers, statsDir: '', timeoutMs: 60000 });
        const s = { contender: name, workers: name === 'single' ? 1 : workers, rep, readyMs: inst.readyMs };
        await inst.stop(0); // nothing measured after READY: no need for a graceful stop
        samples.push(s);
        ctx.log(`  ${String(s.workers).padStart(2)} workers ${name.padEnd(10)} READY after ${s.readyMs.toFixed(0)} ms`);
      }
    }
  }
  const t = ['| workers | contender | exec → READY ms |', '|---:|---|---:|'];
  for (const workers of [1, 2, 16]) {
    for (const name of names) {
      const mine = samples.filter((s) => s.contender === name && s.workers === workers);
      if (mine.length) t.push(`| ${workers} | ${name} | ${fmtSpread(mine.map((s) => s.readyMs))} |`);
    }
  }
  // Goal (issue 16): sockrun's exec → READY at most 1.1× Node's cluster with the same app.
  const goals = [];
  for (const workers of [2, 16]) {
    const med = (name) => summary(samples.filter((s) => s.contender === name && s.workers === workers).map((s) => s.readyMs)).median;
    const sock = med('sockrun');
    const anchor = med('cluster-rr');
    if (!Number.isFinite(sock) || !Number.isFinite(anchor)) continue;
    goals.push({
      goal: `exec → READY, ${workers} workers`, sockrun: `${fmtNum(sock)} ms`, anchor: `${fmtNum(anchor)} ms (Node cluster)`,
      target: `≤ ${GOAL_RATIO}× the anchor`, value: `${(sock / anchor).toFixed(2)}×`, met: sock / anchor <= GOAL_RATIO,
    });
  }
  return {
    samples,
    tables: [{ title: 'Startup', md: t.join('\n') }],
    notes: [`${reps} rep(s), interleaved; median (min–max). On ${require('os').cpus().length} cores, 16 workers boot in turns.`],
    goals,
  };
}

module.exports = { name: 'startup', title: 'Startup: exec → READY', run };
