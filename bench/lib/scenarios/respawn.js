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
const { freePort } = require('../http');
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

async function once(ctx, name, variant, rep) {
  // A fresh server for every sample: each kill is the first one it sees. (sockrun backs off
  // exponentially when workers keep dying within 30 s, which is what it should do in a crash
  // loop, but would make later reps measure the backoff rather than the respawn.)
  const port = await freePort();
  const inst = await ALL[name].start({ port, workers: WORKERS, statsDir: '' });
  try {
    const before = await settle(inst);
    const seconds = ctx.quick ? 2 : 3;
    const load = wrk.run(ctx.wrkBin, { port: inst.port, seconds, connections: ctx.connections, threads: ctx.threads, shape: 'close' });
    const watcher = observe(inst.port, { loops: 4, knownPids: before });
    await proc.sleep(ctx.quick ? 700 : 1000);
    const victims = variant === 'all' ? before : [before[rep % before.length]];
    const tKill = proc.now();
    for (const pid of victims) proc.signal(pid, 'SIGKILL');
    // When the master has a new child process (its reaction), polled every 2 ms.
    let spawnedAt = null;
    const spawnPoll = proc.waitFor(() => {
      if (inst.workerPids().some((p) => !before.includes(p))) spawnedAt = proc.now();
      return spawnedAt !== null;
    }, { timeoutMs: 8000, intervalMs: 2 }).catch(() => {});
    const w = await load;
    // A slow replacement: keep watching (without wrk) for up to 5 s more.
    await proc.waitFor(() => watcher.result.firstNewPidAt !== null, { timeoutMs: 5000, intervalMs: 5 }).catch(() => {});
    const seen = await watcher.stop();
    await spawnPoll;
    const s = {
      contender: name, variant, rep, victims, before,
      spawnedMs: spawnedAt !== null ? spawnedAt - tKill : NaN,
      respawnMs: seen.firstNewPidAt !== null ? seen.firstNewPidAt - tKill : NaN,
      newPid: seen.firstNewPid,
      refused: seen.refused, lost: seen.lost, observedOk: seen.ok, observedErrors: seen.errors,
      wrkErrors: w.errors, wrkRequests: w.requests, wrk: { connect: w.connect, read: w.read, write: w.write, timeout: w.timeout, status: w.status },
    };
    ctx.log(`  kill ${variant.padEnd(3)} ${name.padEnd(12)} new process after ${Number.isFinite(s.spawnedMs) ? `${s.spawnedMs.toFixed(0)} ms` : '–'}, answering after ${Number.isFinite(s.respawnMs) ? `${s.respawnMs.toFixed(0)} ms` : 'NEVER (within 5 s after the run)'}; observer refused ${s.refused}, lost ${s.lost}; wrk errors ${s.wrkErrors} of ${s.wrkRequests}`);
    return s;
  } finally {
    await inst.stop(1000);
  }
}

async function run(ctx) {
  // --quick leaves out cluster-none: for a kill it behaves like cluster-rr (the primary closes the
  // listener when its last worker is gone).
  const names = ORDER.filter((n) => ctx.contenders.includes(n) && !(ctx.quick && n === 'cluster-none'));
  const variants = ctx.quick ? ['all'] : ['one', 'all'];
  const reps = ctx.quick ? 1 : 3;
  const samples = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const variant of variants) {
      for (const name of names) samples.push(await once(ctx, name, variant, rep));
    }
  }
  const t = ['| killed | contender | kill → new worker process ms | kill → replacement answering ms | observer: connections refused | observer: requests lost after accept | wrk errors |',
    '|---|---|---:|---:|---:|---:|---:|'];
  for (const variant of variants) {
    for (const name of names) {
      const mine = samples.filter((s) => s.contender === name && s.variant === variant);
      const never = mine.filter((s) => !Number.isFinite(s.respawnMs)).length;
      t.push(`| ${variant === 'all' ? `all ${WORKERS} workers` : `1 of ${WORKERS} workers`} | ${name} | ${fmtSpread(mine.map((s) => s.spawnedMs))} | ${fmtSpread(mine.map((s) => s.respawnMs))}${never ? ` (${never} never)` : ''} | ${fmtSpread(mine.map((s) => s.refused))} | ${fmtSpread(mine.map((s) => s.lost))} | ${fmtSpread(mine.map((s) => s.wrkErrors))} |`);
    }
  }
  return {
    samples,
    tables: [{ title: 'Respawn under load', md: t.join('\n') }],
    notes: [
      `${WORKERS} workers; wrk -c${ctx.connections} with a new connection per request for ${ctx.quick ? 2 : 3} s, SIGKILL ${ctx.quick ? 0.7 : 1} s in; 4 observer loops beside it; ${reps} rep(s), interleaved; median (min–max).`,
      'Each sample starts a fresh server, so every kill is the first it sees. "New worker process": the master has a new child (its reaction); the rest, up to "answering", is the new Node process booting the app on a busy machine.',
      '"Lost after accept" includes requests that were inside the killed worker: no runner can save those.',
    ],
  };
}

module.exports = { name: 'respawn', title: 'Respawn under load (SIGKILL)', run };
