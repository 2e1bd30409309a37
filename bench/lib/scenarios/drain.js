'use strict';
/**
 * Drain under load: SIGTERM to the master (the process a supervisor would signal) while wrk keeps
 * a steady load on / and a batch of slow requests (/slow, answered after 1 s) is in flight.
 *
 * Counted: slow requests that did not complete with 200 (the in-flight requests a graceful drain
 * must finish); from a few observer client loops running beside wrk until the master exits,
 * requests lost after their connection was accepted (reset, timeout) and connections refused;
 * the time from SIGTERM to the master's exit, and its exit code. wrk's own error counters are
 * not used here: it reconnects in a tight loop once the port is closed, so they count attempts.
 */
const proc = require('../proc');
const wrk = require('../wrk');
const { ALL } = require('../contenders');
const { freePort, get } = require('../http');
const { observe } = require('../observer');
const { fmtSpread } = require('../stats');

const ORDER = ['single', 'cluster-rr', 'cluster-none', 'pm2', 'sockrun'];
const SLOW_MS = 1000;
const SLOW_COUNT = 20;

async function once(ctx, name, rep) {
  const port = await freePort();
  const inst = await ALL[name].start({ port, workers: 2, statsDir: '', env: { HELLO_SLOW_MS: String(SLOW_MS) } });
  try {
    const loadSeconds = 2;
    // New connection per request: a stopped listener shows up as refused connects, not as
    // idle keep-alive sockets closing.
    const load = wrk.run(ctx.wrkBin, { port, seconds: loadSeconds, connections: 20, threads: 1, shape: 'close', timeoutS: 5 });
    const watcher = observe(port, { loops: 4 });
    await proc.sleep(700);
    const slow = Array.from({ length: SLOW_COUNT }, () => get(port, '/slow', { timeoutMs: SLOW_MS + 10000 }));
    // Let the slow requests reach the workers (they are answered 1 s after arrival).
    await proc.sleep(300);
    const tTerm = proc.now();
    proc.signal(inst.masterPid, 'SIGTERM');
    const exit = await proc.within(inst.child.exited, 40000, null);
    const exitMs = exit ? Number(exit.at) / 1e6 - tTerm : NaN;
    const seen = await watcher.stop();
    const slowResults = await Promise.all(slow);
    await load;
    const slowFailed = slowResults.filter((r) => !r.ok).length;
    const s = {
      contender: name, rep, exitMs, exitCode: exit ? exit.code : null, exitSignal: exit ? exit.signal : null,
      slowSent: SLOW_COUNT, slowFailed, slowErrors: [...new Set(slowResults.filter((r) => !r.ok).map((r) => r.error || r.status))],
      observedOk: seen.ok, observedLost: seen.lost, observedLostSamples: seen.lostSamples.map((l) => ({ msAfterTerm: Math.round(l.at - tTerm), waitedMs: l.ms, error: l.error })), observedRefused: seen.refused, observedErrors: seen.errors,
    };
    ctx.log(`  ${name.padEnd(12)} exit ${exit ? `${s.exitCode ?? s.exitSignal} after ${exitMs.toFixed(0)} ms` : 'NOT within 40 s'}; slow in-flight failed ${slowFailed}/${SLOW_COUNT} ${s.slowErrors.join(',')}; observer: ok ${seen.ok}, lost after accept ${seen.lost}, refused ${seen.refused} ${JSON.stringify(seen.errors)} lost: ${JSON.stringify(s.observedLostSamples)}`);
    return s;
  } finally {
    await inst.stop(1000);
  }
}

async function run(ctx) {
  // --quick leaves out cluster-none: it drains exactly like cluster-rr (same primary).
  const names = ORDER.filter((n) => ctx.contenders.includes(n) && !(ctx.quick && n === 'cluster-none'));
  const reps = ctx.quick ? 1 : 3;
  const samples = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const name of names) samples.push(await once(ctx, name, rep));
  }
  const t = ['| contender | slow in-flight requests failed | time SIGTERM → exit ms | exit code | observer: requests lost after accept | longest wait of a lost request ms | observer: connections refused before exit |',
    '|---|---:|---:|---|---:|---:|---:|'];
  for (const name of names) {
    const mine = samples.filter((s) => s.contender === name);
    const codes = [...new Set(mine.map((s) => (s.exitCode !== null ? String(s.exitCode) : s.exitSignal || 'no exit')))].join(', ');
    t.push(`| ${name} | ${fmtSpread(mine.map((s) => s.slowFailed))} of ${SLOW_COUNT} | ${fmtSpread(mine.map((s) => s.exitMs))} | ${codes} | ${fmtSpread(mine.map((s) => s.observedLost))} | ${fmtSpread(mine.map((s) => Math.max(0, ...s.observedLostSamples.map((l) => l.waitedMs))))} | ${fmtSpread(mine.map((s) => s.observedRefused))} |`);
  }
  return {
    samples,
    tables: [{ title: 'Drain under load', md: t.join('\n') }],
    notes: [
      `2 workers; wrk -c20 with a new connection per request on /, ${SLOW_COUNT} requests to /slow (answered after ${SLOW_MS} ms) sent 300 ms before SIGTERM; ${reps} rep(s), interleaved.`,
      'cluster-rr / cluster-none: the primary (bench/apps/cluster-primary.js) drains the way Node\'s docs suggest, worker.disconnect(). single: the app has no SIGTERM handler, like most apps. pm2: pm2-runtime stops the app (SIGINT to each worker, SIGKILL after kill_timeout 1.6 s).',
      'Observer: 4 client loops beside wrk, one request per connection, until the master exits. "Lost after accept" is a request whose connection was accepted by the kernel and then reset or timed out: work the drain dropped. "Refused" means nothing listened any more (a refused loop backs off 5 ms). In Kubernetes, --drain-delay covers the refusals: the endpoint is removed before the listener closes.',
    ],
  };
}

module.exports = { name: 'drain', title: 'Drain under load (SIGTERM)', run };
