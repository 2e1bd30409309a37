'use strict';
/**
 * Throughput, p50/p99 latency, master cost and fairness.
 *
 * For each worker count, every contender is started once (own port, own stats dir), warmed up,
 * then measured interleaved: rep 1 runs A B C D for keep-alive, then A B C D for a new connection
 * per request; rep 2 rotates the order (B C D A), and so on, so drift and order effects spread
 * over all contenders. Around every wrk run: the master's utime+stime from /proc (CPU seconds it
 * burned during the run), its peak VmRSS, the CPU of all server processes, and each worker's
 * request count (fairness).
 */
const proc = require('../proc');
const wrk = require('../wrk');
const ws = require('../workers-stats');
const { ALL } = require('../contenders');
const { freePorts } = require('../http');
const { summary, fmtSpread, fmtNum, fmtBytes, rotate } = require('../stats');

const SHAPES = [
  { key: 'keepalive', label: 'keep-alive' },
  { key: 'close', label: 'new connection per request' },
];

function cpuOf(pids) {
  return pids.reduce((sum, p) => sum + (proc.cpuSeconds(p) || 0), 0);
}

async function measure(ctx, inst, shape, rep, workersLabel) {
  const gate = await proc.quietGate(ctx.quietBudget);
  const before = ws.read(inst.statsDir);
  const workerPids = inst.workerPids();
  const master = inst.masterPid;
  const serverPids = inst.name === 'single' ? [master] : [master, ...workerPids];
  let rssPeak = proc.rssBytes(master);
  const sampler = setInterval(() => {
    const r = proc.rssBytes(master);
    if (r > rssPeak) rssPeak = r;
  }, 200);
  const cpu0 = proc.cpuSeconds(master);
  const all0 = cpuOf(serverPids);
  const sys0 = proc.systemBusySeconds();
  const self0 = proc.selfAndReapedSeconds();
  let r;
  try {
    r = await wrk.run(ctx.wrkBin, { port: inst.port, seconds: ctx.seconds, connections: ctx.connections, threads: ctx.threads, shape });
  } finally {
    clearInterval(sampler);
  }
  const cpu1 = proc.cpuSeconds(master);
  const all1 = cpuOf(serverPids);
  const sys1 = proc.systemBusySeconds();
  const self1 = proc.selfAndReapedSeconds();
  const masterCpu = cpu1 - cpu0;
  // Whatever else ran on the machine meanwhile (other jobs, other contenders' idle work), in
  // cores: the busy CPU of the whole machine minus the servers measured, wrk and the harness.
  const seconds = r.duration_us / 1e6;
  const otherCores = Math.max(0, (sys1 - sys0) - (all1 - all0) - (self1 - self0)) / seconds;
  return {
    contender: inst.name, workers: workersLabel, workerCount: inst.workers, shape, rep,
    rps: r.rps, requests: r.requests, p50Ms: r.p50_us / 1000, p99Ms: r.p99_us / 1000, maxMs: r.max_us / 1000,
    errors: r.errors, wrk: r,
    masterCpuS: masterCpu, masterCpuUsPerReq: (masterCpu * 1e6) / Math.max(1, r.requests),
    serverCpuS: all1 - all0, serverCpuUsPerReq: ((all1 - all0) * 1e6) / Math.max(1, r.requests),
    masterRssPeak: rssPeak, otherCores, busyCoresBefore: gate.busyCores, waitedForQuietMs: gate.waitedMs,
    statsBefore: before,
  };
}

async function runBlock(ctx, workers, names) {
  const label = String(workers);
  const ports = await freePorts(names.length);
  const insts = [];
  try {
    // Started side by side (what is timed here is not startup: see the startup scenario).
    const started = await Promise.allSettled(names.map(async (name, i) => {
      const statsDir = ws.makeDir(name);
      const inst = await ALL[name].start({ port: ports[i], workers, statsDir });
      inst.statsDir = statsDir;
      return inst;
    }));
    for (const r of started) if (r.status === 'fulfilled') insts.push(r.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const inst of insts) ctx.log(`  started ${inst.name} (workers ${label}): master ${inst.masterPid}, workers ${inst.workerPids().join(' ')}`);
    // Warm-up (not measured): JIT, page cache, both shapes. Not in --quick (time budget): there the
    // first rep of every contender is its warm-up, equally.
    for (const inst of ctx.quick ? [] : insts) {
      for (const shape of SHAPES) await wrk.run(ctx.wrkBin, { port: inst.port, seconds: 1, connections: ctx.connections, threads: ctx.threads, shape: shape.key });
    }
    await proc.sleep(500);
    // Idle: the master's RSS and CPU over a quiet second, all contenders side by side.
    const idle0 = insts.map((i) => proc.cpuSeconds(i.masterPid));
    const idleSeconds = ctx.quick ? 0.5 : 2;
    await proc.sleep(idleSeconds * 1000);
    for (const [k, inst] of insts.entries()) {
      inst.idleRss = proc.rssBytes(inst.masterPid);
      inst.idlePrivate = proc.privateBytes(inst.masterPid);
      inst.idleCpuPerS = (proc.cpuSeconds(inst.masterPid) - idle0[k]) / idleSeconds;
    }
    const samples = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const shape of SHAPES) {
        for (const inst of rotate(insts, rep)) {
          const s = await measure(ctx, inst, shape.key, rep, inst.name === 'single' ? '1' : label);
          samples.push(s);
          ctx.log(`  ${label} ${shape.key.padEnd(9)} ${inst.name.padEnd(12)} ${fmtNum(s.rps).padStart(7)} req/s  p99 ${s.p99Ms.toFixed(1)} ms  errors ${s.errors}  master CPU ${s.masterCpuS.toFixed(2)} s  other load ${s.otherCores.toFixed(2)} cores`);
        }
      }
    }
    // Per-worker counts: each sample's share is what the workers served between its start
    // and the next sample of the same contender (the stats files are flushed every 200 ms).
    await proc.sleep(400);
    for (const inst of insts) {
      const mine = samples.filter((s) => s.contender === inst.name);
      const final = ws.read(inst.statsDir);
      mine.forEach((s, i) => {
        const after = i + 1 < mine.length ? mine[i + 1].statsBefore : final;
        s.perWorker = ws.delta(s.statsBefore, after);
        s.busiestShare = ws.busiestShare(s.perWorker);
        delete s.statsBefore;
      });
    }
    for (const inst of insts) {
      for (const s of samples.filter((x) => x.contender === inst.name)) {
        s.masterRssIdle = inst.idleRss;
        s.masterPrivateIdle = inst.idlePrivate;
        s.masterIdleCpuPerS = inst.idleCpuPerS;
      }
    }
    return samples;
  } finally {
    for (const inst of insts) {
      await inst.stop();
      proc.rmTemp(inst.statsDir);
    }
  }
}

function tables(samples, order) {
  const groups = [];
  for (const w of [...new Set(samples.map((s) => s.workers))]) {
    for (const c of order) {
      const mine = samples.filter((s) => s.workers === w && s.contender === c);
      if (mine.length) groups.push({ w, c, mine });
    }
  }
  const pick = (xs, shape, f) => xs.filter((s) => s.shape === shape).map(f);
  const t1 = ['| workers | contender | keep-alive req/s | p50 ms | p99 ms | new conn/req req/s | p50 ms | p99 ms | errors | other load, cores |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  const t2 = ['| workers | contender | master CPU s/run, keep-alive | master CPU s/run, new conn | master µs/req, new conn | master CPU idle, % of a core | master RSS idle | master RSS under load (max) | all-process CPU µs/req, keep-alive | all-process CPU µs/req, new conn | busiest worker share, keep-alive | busiest worker share, new conn |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const { w, c, mine } of groups) {
    const errs = mine.reduce((a, s) => a + s.errors, 0);
    t1.push(`| ${w} | ${c} | ${fmtSpread(pick(mine, 'keepalive', (s) => s.rps))} | ${fmtSpread(pick(mine, 'keepalive', (s) => s.p50Ms), 2)} | ${fmtSpread(pick(mine, 'keepalive', (s) => s.p99Ms), 1)} | ${fmtSpread(pick(mine, 'close', (s) => s.rps))} | ${fmtSpread(pick(mine, 'close', (s) => s.p50Ms), 2)} | ${fmtSpread(pick(mine, 'close', (s) => s.p99Ms), 1)} | ${errs} | ${fmtNum(summary(mine.map((s) => s.otherCores)).median, 2)} |`);
    const share = (shape) => (c === 'single' ? 'n/a' : fmtSpread(pick(mine, shape, (s) => s.busiestShare * 100), 0, '%'));
    t2.push(`| ${w} | ${c} | ${fmtSpread(pick(mine, 'keepalive', (s) => s.masterCpuS), 2)} | ${fmtSpread(pick(mine, 'close', (s) => s.masterCpuS), 2)} | ${fmtSpread(pick(mine, 'close', (s) => s.masterCpuUsPerReq), 1)} | ${c === 'single' ? 'n/a' : fmtNum(100 * summary(mine.map((s) => s.masterIdleCpuPerS)).median, 1)} | ${fmtBytes(summary(mine.map((s) => s.masterRssIdle)).median)} | ${fmtBytes(summary(mine.map((s) => s.masterRssPeak)).max)} | ${fmtSpread(pick(mine, 'keepalive', (s) => s.serverCpuUsPerReq), 0)} | ${fmtSpread(pick(mine, 'close', (s) => s.serverCpuUsPerReq), 0)} | ${share('keepalive')} | ${share('close')} |`);
  }
  return [
    { title: 'Throughput and latency', md: t1.join('\n') },
    { title: 'Master cost and fairness', md: t2.join('\n') },
  ];
}

const ORDER = ['single', 'cluster-rr', 'cluster-none', 'pm2', 'sockrun'];

/** Goal (issue 16): sockrun's master idle RSS at most 1.15× a cluster primary's (2 workers); under load shown beside it. */
const GOAL_RSS_RATIO = 1.15;

function rssGoals(samples) {
  const of = (c, f) => samples.filter((s) => String(s.workers) === '2' && s.contender === c).map(f);
  const goals = [];
  for (const [what, f, agg] of [['idle', (s) => s.masterRssIdle, 'median'], ['under load (max)', (s) => s.masterRssPeak, 'max'], ['private (USS) idle', (s) => s.masterPrivateIdle, 'median']]) {
    const sock = summary(of('sockrun', f))[agg];
    const anchor = summary(of('cluster-rr', f))[agg];
    if (!Number.isFinite(sock) || !Number.isFinite(anchor)) continue;
    goals.push({
      goal: what.startsWith('private') ? `master memory ${what}, 2 workers` : `master RSS ${what}, 2 workers`, sockrun: fmtBytes(sock), anchor: `${fmtBytes(anchor)} (cluster primary)`,
      target: what === 'idle' ? `≤ ${GOAL_RSS_RATIO}× the anchor` : 'reported', value: `${(sock / anchor).toFixed(2)}×`, met: what === 'idle' ? sock / anchor <= GOAL_RSS_RATIO : undefined,
    });
  }
  return goals;
}

async function run(ctx) {
  // The 2-worker block is the headline and gets every rep; 1 worker and "auto" (which is 2 again
  // on a 2-core machine) get 3, to keep the full run under 15 minutes. --quick: 2 workers only,
  // with the single process interleaved in the same block.
  const blocks = ctx.quick
    ? [{ workers: 2, names: ORDER, reps: ctx.reps }]
    : [
      { workers: 2, names: ORDER.slice(1), reps: ctx.reps },
      { workers: 1, names: ORDER, reps: Math.min(ctx.reps, 3) },
      { workers: 'auto', names: ORDER.slice(1), reps: Math.min(ctx.reps, 3) },
    ];
  const samples = [];
  for (const b of blocks) {
    const names = b.names.filter((n) => ctx.contenders.includes(n));
    if (!names.length) continue;
    ctx.log(` workers ${b.workers}: ${names.join(', ')}; ${b.reps} reps × ${ctx.seconds} s per shape`);
    samples.push(...await runBlock({ ...ctx, reps: b.reps }, b.workers, names));
  }
  const notes = [
    `wrk -t${ctx.threads} -c${ctx.connections} -d${ctx.seconds}s per sample; ${blocks.map((b) => `${b.workers} worker(s): ${b.reps} reps`).join(', ')}, interleaved (A B C D, then B C D A, …); cells are median (min–max).`,
    '"master" is the process the bench spawns: the cluster primary, the PM2 God process (pm2-runtime), the sockrun master; for single, the server itself.',
    '"all-process CPU" adds the workers\' CPU: the whole cost of a request on this machine, wrk excluded. Less disturbed by other load than req/s.',
    '"other load": CPU that other processes on the machine used during the samples (median, in cores of the machine\'s ' + require('os').cpus().length + '); above ~0.2 the figures are disturbed.',
    '"busiest worker share": the share of requests the busiest worker served (50% is perfectly even with 2 workers).',
  ];
  return { samples, tables: tables(samples, ORDER), notes, goals: rssGoals(samples) };
}

module.exports = { name: 'throughput', title: 'Throughput, latency, master cost, fairness', run, SHAPES };
