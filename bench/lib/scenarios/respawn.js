'use strict';
/**
 * Respawn under load: SIGKILL one worker (of 2), or every worker at once, while wrk loads the
 * server, and time how long until a replacement answers. Observer client loops beside wrk send
 * one request per connection and note the first answer from a pid that was not a worker before
 * the kill (a replacement accepting); they also count connections refused (nothing listening)
 * and requests lost after accept. wrk's own error count is shown as well (it reconnects at once,
 * so against a closed port it counts attempts).
 */
const proc = require('../proc');
const wrk = require('../wrk');
const { ALL } = require('../contenders');
const { freePorts } = require('../http');
const { observe } = require('../observer');
const { fmtSpread } = require('../stats');

const ORDER = ['cluster-rr', 'cluster-none', 'pm2', 'sockrun'];
const WORKERS = 2;

async function settle(inst) {
  await proc.waitFor(() => inst.workerPids().length === WORKERS, { timeoutMs: 20000, what: `${inst.name} back to ${WORKERS} workers` });
  await proc.sleep(300);
  const pids = inst.workerPids();
  if (pids.length !== WORKERS) return settle(inst);
  return pids;
}

async function once(ctx, inst, variant, rep) {
  const before = await settle(inst);
  const seconds = 3;
  const load = wrk.run(ctx.wrkBin, { port: inst.port, seconds, connections: ctx.connections, threads: ctx.threads, shape: 'close' });
  const watcher = observe(inst.port, { loops: 4, knownPids: before });
  await proc.sleep(1000);
  const victims = variant === 'all' ? before : [before[rep % before.length]];
  const tKill = proc.now();
  for (const pid of victims) proc.signal(pid, 'SIGKILL');
  const w = await load;
  const seen = await watcher.stop();
  const s = {
    contender: inst.name, variant, rep, victims, before,
    respawnMs: seen.firstNewPidAt !== null ? seen.firstNewPidAt - tKill : NaN,
    newPid: seen.firstNewPid,
    refused: seen.refused, lost: seen.lost, observedOk: seen.ok, observedErrors: seen.errors,
    wrkErrors: w.errors, wrkRequests: w.requests, wrk: { connect: w.connect, read: w.read, write: w.write, timeout: w.timeout, status: w.status },
  };
  ctx.log(`  kill ${variant.padEnd(3)} ${inst.name.padEnd(12)} replacement answering after ${Number.isFinite(s.respawnMs) ? `${s.respawnMs.toFixed(0)} ms` : 'NEVER (within the run)'}; observer refused ${s.refused}, lost ${s.lost}; wrk errors ${s.wrkErrors} of ${s.wrkRequests}`);
  return s;
}

async function run(ctx) {
  const names = ORDER.filter((n) => ctx.contenders.includes(n));
  const variants = ctx.quick && !process.env.BENCH_RESPAWN_ALL ? ['all'] : ['one', 'all'];
  const reps = ctx.quick ? 1 : 3;
  const ports = await freePorts(names.length);
  const insts = [];
  const samples = [];
  try {
    for (const [i, name] of names.entries()) insts.push(await ALL[name].start({ port: ports[i], workers: WORKERS, statsDir: '' }));
    for (const inst of insts) await wrk.run(ctx.wrkBin, { port: inst.port, seconds: 1, connections: ctx.connections, threads: ctx.threads, shape: 'close' });
    for (let rep = 0; rep < reps; rep++) {
      for (const variant of variants) {
        for (const inst of insts) samples.push(await once(ctx, inst, variant, rep));
      }
    }
  } finally {
    for (const inst of insts) await inst.stop();
  }
  const t = ['| killed | contender | kill → replacement answering ms | observer: connections refused | observer: requests lost after accept | wrk errors |',
    '|---|---|---:|---:|---:|---:|'];
  for (const variant of variants) {
    for (const name of names) {
      const mine = samples.filter((s) => s.contender === name && s.variant === variant);
      const never = mine.filter((s) => !Number.isFinite(s.respawnMs)).length;
      t.push(`| ${variant === 'all' ? `all ${WORKERS} workers` : `1 of ${WORKERS} workers`} | ${name} | ${fmtSpread(mine.map((s) => s.respawnMs))}${never ? ` (${never} never)` : ''} | ${fmtSpread(mine.map((s) => s.refused))} | ${fmtSpread(mine.map((s) => s.lost))} | ${fmtSpread(mine.map((s) => s.wrkErrors))} |`);
    }
  }
  return {
    samples,
    tables: [{ title: 'Respawn under load', md: t.join('\n') }],
    notes: [
      `${WORKERS} workers; wrk -c${ctx.connections} with a new connection per request for 3 s, SIGKILL 1 s in; 4 observer loops beside it; ${reps} rep(s), interleaved; median (min–max).`,
      '"Lost after accept" includes requests that were inside the killed worker: no runner can save those.',
    ],
  };
}

module.exports = { name: 'respawn', title: 'Respawn under load (SIGKILL)', run };
