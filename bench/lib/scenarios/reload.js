'use strict';
/**
 * Reload under load: the same wrk client and load against each contender while it replaces its
 * workers — `sockrun reload` (the control-socket twin of SIGHUP; it returns when the rollout is
 * done), `pm2 reload hello`, and a plain stop/start of a single process (SIGTERM, then start it
 * again). Counted: every request wrk saw fail (connect, read, write, timeout, non-2xx) and how
 * long the reload took (command start to its return; for stop/start, SIGTERM to the new
 * process answering).
 */
const proc = require('../proc');
const wrk = require('../wrk');
const { ALL } = require('../contenders');
const { freePorts } = require('../http');
const { fmtSpread } = require('../stats');

const ORDER = ['single', 'pm2', 'sockrun'];
const LABEL = { single: 'stop/start (single process)', pm2: 'pm2 reload', sockrun: 'sockrun reload' };

async function stopStart(holder) {
  const t = proc.now();
  await holder.inst.stop();
  holder.inst = await ALL.single.start({ port: holder.port, statsDir: '' });
  return { ms: proc.now() - t, ok: true };
}

async function run(ctx) {
  const names = ORDER.filter((n) => ctx.contenders.includes(n));
  const shapes = ctx.quick ? ['close'] : ['close', 'keepalive'];
  const reps = ctx.quick ? 1 : 2;
  // The load must outlast the slowest reload (pm2 reload took 2–3 s on 2 busy cores).
  const seconds = ctx.quick ? 4 : 6;
  const triggerAfterMs = ctx.quick ? 700 : 1500;
  const ports = await freePorts(names.length);
  const holders = [];
  const samples = [];
  try {
    for (const [i, name] of names.entries()) {
      const inst = await ALL[name].start({ port: ports[i], workers: 2, statsDir: '' });
      holders.push({ name, port: ports[i], inst });
    }
    if (!ctx.quick) for (const h of holders) await wrk.run(ctx.wrkBin, { port: h.port, seconds: 1, connections: ctx.connections, threads: ctx.threads });
    for (let rep = 0; rep < reps; rep++) {
      for (const shape of shapes) {
        for (const h of holders) {
          const load = wrk.run(ctx.wrkBin, { port: h.port, seconds, connections: ctx.connections, threads: ctx.threads, shape });
          await proc.sleep(triggerAfterMs);
          const r = h.name === 'single' ? await stopStart(h) : await h.inst.reload();
          const w = await load;
          const s = {
            contender: h.name, shape, rep, reloadMs: r.ms, reloadOk: r.ok, reloadOutput: r.output || undefined,
            failed: w.errors, connect: w.connect, read: w.read, write: w.write, timeout: w.timeout, non2xx: w.status,
            requests: w.requests, rps: w.rps, p99Ms: w.p99_us / 1000, maxMs: w.max_us / 1000,
            workersAfter: h.inst.workerPids().length,
            // Did the load outlast the reload? If not, failures after the run went unseen.
            coveredByLoad: triggerAfterMs + r.ms < seconds * 1000,
          };
          samples.push(s);
          ctx.log(`  ${shape.padEnd(9)} ${h.name.padEnd(8)} reload ${r.ms.toFixed(0)} ms ${r.ok ? '' : '(FAILED) '}failed requests ${s.failed} (connect ${s.connect}, read ${s.read}, write ${s.write}, timeout ${s.timeout}, non-2xx ${s.non2xx}) of ${s.requests}; max latency ${s.maxMs.toFixed(0)} ms`);
        }
      }
    }
  } finally {
    for (const h of holders) await h.inst.stop();
  }
  const t = ['| traffic | how | failed requests | of which connect / read / write / timeout / non-2xx | reload duration ms | req/s during the run | max latency ms |',
    '|---|---|---:|---|---:|---:|---:|'];
  for (const shape of shapes) {
    for (const name of names) {
      const mine = samples.filter((s) => s.contender === name && s.shape === shape);
      const sum = (k) => mine.reduce((a, s) => a + s[k], 0);
      t.push(`| ${shape === 'close' ? 'new conn/req' : 'keep-alive'} | ${LABEL[name]} | ${fmtSpread(mine.map((s) => s.failed))} | ${sum('connect')} / ${sum('read')} / ${sum('write')} / ${sum('timeout')} / ${sum('non2xx')} (all reps) | ${fmtSpread(mine.map((s) => s.reloadMs))} | ${fmtSpread(mine.map((s) => s.rps))} | ${fmtSpread(mine.map((s) => s.maxMs))} |`);
    }
  }
  const uncovered = samples.filter((s) => !s.coveredByLoad);
  const extra = uncovered.length
    ? [`${uncovered.length} reload(s) (${[...new Set(uncovered.map((s) => s.contender))].join(', ')}) outlasted the load: failures after the load ended were not seen.`]
    : [];
  return {
    samples,
    tables: [{ title: 'Reload under load', md: t.join('\n') }],
    notes: [
      ...extra,
      `2 workers; wrk -c${ctx.connections} for ${seconds} s, the reload starts ${triggerAfterMs / 1000} s in; ${reps} rep(s), interleaved; cells are median (min–max) over reps.`,
      'sockrun: `sockrun reload --pid P` (control socket; SIGHUP does the same rollout), make-before-break, returns when the rollout is done. pm2: `pm2 reload hello` against the pm2-runtime God process. stop/start: SIGTERM to a single `node hello.js` (which has no SIGTERM handler, like most apps), then start it again.',
      'An unmodified app under PM2 gets SIGINT on reload and dies at once unless it handles the signal itself; requests in flight on the old worker fail.',
    ],
  };
}

module.exports = { name: 'reload', title: 'Reload under load', run };
