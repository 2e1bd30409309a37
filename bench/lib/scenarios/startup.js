'use strict';
/**
 * Startup: time from exec until every worker answers, with 2 and 16 workers, each contender by
 * its own honest signal: sockrun's "worker listening" log lines at its default log level (info),
 * one per worker; the cluster primary's "READY" line, printed when every worker emitted
 * 'listening'; for PM2, answers from N distinct worker pids (its round-robin hands successive
 * connections to successive listening workers); for a single process, its first answer.
 * sockrun's READY (what systemd's READY=1 and /readyz wait for) comes --settle (2 s) later: every
 * worker must also stay up that long (issue 12); it is shown beside it.
 */
const { ALL } = require('../contenders');
const { freePort } = require('../http');
const proc = require('../proc');
const { fmtNum, fmtSpread, summary, rotate } = require('../stats');

const GOAL_RATIO = 1.1;

const ORDER = ['single', 'cluster-rr', 'pm2', 'sockrun'];

async function run(ctx) {
  const names = ORDER.filter((n) => ctx.contenders.includes(n) && !(ctx.quick && n === 'single'));
  const reps = ctx.quick ? 2 : 5;
  const samples = [];
  // Its own budget for waiting on a quiet machine: the throughput scenario may have spent the run's.
  const quiet = { leftMs: ctx.quick ? 3000 : 20000 };
  for (let rep = 0; rep < reps; rep++) {
    for (const workers of [2, 16]) {
      // Each rep in another order (a start right after PM2's teardown is not a start on a quiet
      // machine), each start on a quiet machine.
      for (const name of rotate(names, rep)) {
        if (name === 'single' && workers !== 2) continue;
        // --quick: PM2's 16-worker start alone takes 2–5 s; the full run has it.
        if (ctx.quick && name === 'pm2' && workers === 16) continue;
        const port = await freePort();
        await proc.quietGate(quiet);
        const inst = await ALL[name].start({ port, workers, statsDir: '', timeoutMs: 60000, logLevel: 'info' });
        const s = { contender: name, workers: name === 'single' ? 1 : workers, rep, answeringMs: inst.answeringMs ?? inst.readyMs, readyMs: inst.readyMs };
        await inst.stop(0); // nothing measured after READY: no need for a graceful stop
        samples.push(s);
        ctx.log(`  ${String(s.workers).padStart(2)} workers ${name.padEnd(10)} answering after ${s.answeringMs.toFixed(0)} ms${name === 'sockrun' ? `, READY after ${s.readyMs.toFixed(0)} ms` : ''}`);
      }
    }
  }
  const t = ['| workers | contender | exec → every worker answering, ms | exec → READY (sockrun: after --settle 2s), ms |', '|---:|---|---:|---:|'];
  for (const workers of [1, 2, 16]) {
    for (const name of names) {
      const mine = samples.filter((s) => s.contender === name && s.workers === workers);
      if (mine.length) t.push(`| ${workers} | ${name} | ${fmtSpread(mine.map((s) => s.answeringMs))} | ${name === 'sockrun' ? fmtSpread(mine.map((s) => s.readyMs)) : 'same'} |`);
    }
  }
  // Goal (issue 16): sockrun's exec → every worker answering at most 1.1× Node's cluster with the same app.
  const goals = [];
  for (const workers of [2, 16]) {
    const med = (name) => summary(samples.filter((s) => s.contender === name && s.workers === workers).map((s) => s.answeringMs)).median;
    const sock = med('sockrun');
    const anchor = med('cluster-rr');
    if (!Number.isFinite(sock) || !Number.isFinite(anchor)) continue;
    goals.push({
      goal: `exec → every worker answering, ${workers} workers`, sockrun: `${fmtNum(sock)} ms`, anchor: `${fmtNum(anchor)} ms (Node cluster)`,
      // The issue's goal is for 2 workers; 16 are reported (on 2 cores they boot in turns, and each pays the worker runtime's start).
      target: workers === 2 ? `≤ ${GOAL_RATIO}× the anchor` : 'reported', value: `${(sock / anchor).toFixed(2)}×`, met: workers === 2 ? sock / anchor <= GOAL_RATIO : undefined,
    });
  }
  return {
    samples,
    tables: [{ title: 'Startup', md: t.join('\n') }],
    notes: [`${reps} rep(s), interleaved, each rep in another order, each start once the machine is quiet; median (min–max). On ${require('os').cpus().length} cores, 16 workers boot in turns. sockrun's workers accept connections from the moment they listen; READY (systemd's READY=1, /readyz) waits until each has stayed up for --settle, so that new code that listens and then crashes never reports a successful start (issue 12).`],
    goals,
  };
}

module.exports = { name: 'startup', title: 'Startup: exec → every worker answering', run };
