'use strict';
/**
 * Reload with long-lived connections: an HTTP/2 client holding one session with streams in
 * flight, and WebSocket clients, while each contender replaces its 2 workers — Node's cluster
 * (the primary's SIGHUP rolling restart: fork, wait for listening, SIGTERM the old worker), PM2
 * (`pm2 reload`: SIGINT) and sockrun (`sockrun reload`). The apps (bench/apps/h2.js, ws.js) are
 * the same for all and do what a careful app does on SIGTERM/SIGINT: stop accepting (h2.js), or
 * close every WebSocket with 1001 (ws.js). Every contender gets the same 5 s before it kills an old
 * worker (PM2 kill_timeout, the cluster primary's timeout, sockrun --graceful-timeout).
 *
 * Counted: HTTP/2 streams that failed (a stream refused with REFUSED_STREAM is retried, as
 * browsers and grpc-js do, and counted apart), sessions opened, the reload's duration; for
 * WebSockets, the close codes the clients saw, the clients that reconnected to a new worker, and
 * the longest time a client went without a connection.
 */
const proc = require('../proc');
const { ALL } = require('../contenders');
const { freePort } = require('../http');
const { h2Load, h2Pid, wsClients } = require('../protocol-clients');
const { fmtSpread } = require('../stats');

const ORDER = ['cluster-rr', 'pm2', 'sockrun'];
const LABEL = { 'cluster-rr': 'Node cluster (rolling restart)', pm2: 'pm2 reload', sockrun: 'sockrun reload' };
const KILL_TIMEOUT_MS = 5000;
const WS_CLIENTS = 20;

async function start(name, app) {
  const port = await freePort();
  const env = { BENCH_APP: app, BENCH_KILL_TIMEOUT_MS: String(KILL_TIMEOUT_MS) };
  const inst = await ALL[name].start({
    port, workers: 2, statsDir: '', env,
    extraArgs: ['--graceful-timeout', `${KILL_TIMEOUT_MS}ms`],
    probe: app === 'h2.js' ? h2Pid : undefined,
  });
  return { port, inst };
}

async function h2Sample(ctx, name, rep) {
  const { port, inst } = await start(name, 'h2.js');
  try {
    const load = h2Load(port, { concurrency: 8 });
    await proc.sleep(1000);
    const r = await inst.reload();
    await proc.sleep(1000);
    const c = await load.stop();
    const s = { protocol: 'h2', contender: name, rep, reloadMs: r.ms, reloadOk: r.ok, ok: c.ok, failed: c.failed, retried: c.retried, sessions: c.sessions, errors: c.errors };
    ctx.log(`  h2  ${name.padEnd(10)} reload ${r.ms.toFixed(0)} ms${r.ok ? '' : ' (FAILED)'}; streams ok ${c.ok}, failed ${c.failed} ${JSON.stringify(c.errors)}, refused and retried ${c.retried}; sessions ${c.sessions}`);
    return s;
  } finally {
    await inst.stop(1000);
  }
}

async function wsSample(ctx, name, rep) {
  const { port, inst } = await start(name, 'ws.js');
  try {
    const clients = wsClients(port, WS_CLIENTS);
    await clients.ready();
    const before = new Set(inst.workerPids());
    const r = await inst.reload();
    await proc.sleep(1000);
    const seen = clients.stop();
    const codes = {};
    let reconnected = 0;
    let longestGapMs = 0;
    for (const c of seen) {
      const first = c.sessions[0];
      if (first.closedAt) codes[first.closeCode] = (codes[first.closeCode] || 0) + 1;
      const next = c.sessions.find((x) => !before.has(x.pid));
      if (next) reconnected++;
      // Time without a connection: from each close to the next greeting.
      for (let i = 0; i + 1 < c.sessions.length; i++) {
        if (c.sessions[i].closedAt) longestGapMs = Math.max(longestGapMs, c.sessions[i + 1].openedAt - c.sessions[i].closedAt);
      }
    }
    const s = { protocol: 'ws', contender: name, rep, reloadMs: r.ms, reloadOk: r.ok, clients: WS_CLIENTS, codes, reconnected, longestGapMs };
    ctx.log(`  ws  ${name.padEnd(10)} reload ${r.ms.toFixed(0)} ms${r.ok ? '' : ' (FAILED)'}; close codes ${JSON.stringify(codes)}; reconnected to a new worker ${reconnected}/${WS_CLIENTS}; longest gap ${longestGapMs} ms`);
    return s;
  } finally {
    await inst.stop(1000);
  }
}

async function run(ctx) {
  const names = ORDER.filter((n) => ctx.contenders.includes(n));
  const reps = ctx.quick ? 1 : 2;
  const samples = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const name of names) samples.push(await h2Sample(ctx, name, rep));
    for (const name of names) samples.push(await wsSample(ctx, name, rep));
  }
  const of = (p, name) => samples.filter((s) => s.protocol === p && s.contender === name);
  const h2 = ['| how | failed streams | streams refused and retried | streams answered | sessions | reload duration ms |', '|---|---:|---:|---:|---:|---:|'];
  for (const name of names) {
    const m = of('h2', name);
    h2.push(`| ${LABEL[name]} | ${fmtSpread(m.map((s) => s.failed))} | ${fmtSpread(m.map((s) => s.retried))} | ${fmtSpread(m.map((s) => s.ok))} | ${fmtSpread(m.map((s) => s.sessions))} | ${fmtSpread(m.map((s) => s.reloadMs))} |`);
  }
  const ws = ['| how | close codes seen (all reps) | reconnected to a new worker | longest time without a connection ms | reload duration ms |', '|---|---|---:|---:|---:|'];
  for (const name of names) {
    const m = of('ws', name);
    const codes = {};
    for (const s of m) for (const [k, v] of Object.entries(s.codes)) codes[k] = (codes[k] || 0) + v;
    ws.push(`| ${LABEL[name]} | ${Object.entries(codes).map(([k, v]) => `${k}: ${v}`).join(', ') || '—'} | ${fmtSpread(m.map((s) => s.reconnected))} of ${WS_CLIENTS} | ${fmtSpread(m.map((s) => s.longestGapMs))} | ${fmtSpread(m.map((s) => s.reloadMs))} |`);
  }
  return {
    samples,
    tables: [
      { title: 'HTTP/2: one client session through a reload', md: h2.join('\n') },
      { title: 'WebSockets through a reload', md: ws.join('\n') },
    ],
    notes: [
      `2 workers, a fresh server per sample; ${reps} rep(s), interleaved; cells are median (min–max) over reps. Old workers are killed ${KILL_TIMEOUT_MS / 1000} s after they were asked to stop, for every contender.`,
      'HTTP/2: bench/apps/h2.js (h2c, compatibility API); 8 client loops on one shared session, alternating / and /slow (300 ms), the reload 1 s in, counted until 1 s after it returned. The app\'s SIGTERM/SIGINT handler calls server.close(), which on Node < 24 sends no GOAWAY: under the cluster primary and PM2 the old worker keeps its session until it is killed. sockrun sends every session GOAWAY itself.',
      `WebSockets: bench/apps/ws.js, ${WS_CLIENTS} \`ws\` clients reconnecting 50 ms after a close; the app closes its clients with 1001 on SIGTERM/SIGINT. 1006 = closed without a close frame (the worker was killed or cut the connection).`,
    ],
  };
}

module.exports = { name: 'protocols', title: 'Reload with HTTP/2 sessions and WebSockets', run };
