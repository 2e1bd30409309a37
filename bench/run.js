#!/usr/bin/env node
'use strict';
/**
 * `npm run bench` — sockrun against a single process, Node's cluster module (round-robin and
 * SCHED_NONE) and PM2, side by side in one run, on loopback.
 *
 *   node bench/run.js [--quick] [--only a,b] [--contenders a,b] [--reps N] [--seconds N]
 *                     [--connections N] [--out DIR] [--update-readme]
 *   node bench/run.js --redraw bench/results/full.json   (only redraw the chart from raw samples)
 *
 * Scenarios (--only): throughput, reload, protocols, drain, respawn, metrics, startup.
 * Writes bench/results/<mode>.md, <mode>.json (raw samples) and <mode>.svg, and prints the tables.
 * Every process it starts is killed at the end, even on error or Ctrl-C.
 */
const fs = require('fs');
const path = require('path');
const proc = require('./lib/proc');
const wrk = require('./lib/wrk');
const machine = require('./lib/machine');
const report = require('./lib/report');
const { ROOT } = require('./lib/contenders');

const SCENARIOS = {
  throughput: require('./lib/scenarios/throughput'),
  reload: require('./lib/scenarios/reload'),
  protocols: require('./lib/scenarios/protocols'),
  drain: require('./lib/scenarios/drain'),
  respawn: require('./lib/scenarios/respawn'),
  metrics: require('./lib/scenarios/metrics'),
  startup: require('./lib/scenarios/startup'),
};
const CONTENDERS = ['single', 'cluster-rr', 'cluster-none', 'pm2', 'sockrun'];

function usage(msg) {
  return Object.assign(new Error(msg), { usage: true });
}

function parseArgs(argv) {
  const o = { quick: false, updateReadme: false, only: Object.keys(SCENARIOS), contenders: CONTENDERS, out: path.join(__dirname, 'results') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = val().split(',');
    else if (a === '--contenders') o.contenders = val().split(',');
    else if (a === '--reps') o.reps = Number(val());
    else if (a === '--seconds') o.seconds = Number(val());
    else if (a === '--connections') o.connections = Number(val());
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '--update-readme') o.updateReadme = true;
    else if (a === '--redraw') o.redraw = path.resolve(val());
    else if (a === '-h' || a === '--help') {
      const doc = fs.readFileSync(__filename, 'utf8').split('\n');
      process.stdout.write(doc.slice(3, doc.indexOf(' */')).map((l) => l.replace(/^ \* ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else throw usage(`unknown argument ${a} (try --help)`);
  }
  for (const s of o.only) if (!SCENARIOS[s]) throw usage(`unknown scenario ${s}: one of ${Object.keys(SCENARIOS).join(', ')}`);
  for (const c of o.contenders) if (!CONTENDERS.includes(c)) throw usage(`unknown contender ${c}: one of ${CONTENDERS.join(', ')}`);
  o.reps = o.reps || (o.quick ? 2 : 5);
  o.seconds = o.seconds || (o.quick ? 2 : 4);
  o.connections = o.connections || 50;
  return o;
}

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

function chart(raw, file) {
  const m = raw.machine;
  const o = raw.options;
  fs.writeFileSync(file, report.throughputChart(raw.scenarios.throughput.samples, CONTENDERS,
    `${m.cores} cores, Node ${m.node}, wrk -c${o.connections}, ${o.seconds} s samples, ${raw.mode === 'quick' ? `${o.reps} reps` : `${o.reps} reps (1 worker and auto: ${Math.min(o.reps, 3)})`}, ${m.date.slice(0, 10)}`));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.redraw) {
    const svg = opts.redraw.replace(/\.json$/, '.svg');
    chart(JSON.parse(fs.readFileSync(opts.redraw, 'utf8')), svg);
    log(`Wrote ${path.relative(process.cwd(), svg)}`);
    return 0;
  }
  const t0 = proc.now();
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  }
  const wrkBin = wrk.ensureWrk(log);
  const m = machine.describe(ROOT, wrk.version(wrkBin));
  const machineLine = machine.markdown(m);
  const mode = opts.quick ? 'quick' : 'full';
  log(`sockrun bench (${mode}) on ${m.nodeLine}: ${machineLine}`);

  const ctx = {
    quick: opts.quick, reps: opts.reps, seconds: opts.seconds, connections: opts.connections, threads: 2,
    wrkBin, log, contenders: opts.contenders,
    // Throughput samples wait for a quiet machine (other jobs' bursts), within this budget for
    // the whole run so it stays bounded in time.
    quietBudget: { leftMs: opts.quick ? 2000 : 60000 },
  };
  const sections = [];
  const raw = { machine: m, mode, options: { ...opts, out: undefined }, scenarios: {} };
  for (const name of opts.only) {
    const sc = SCENARIOS[name];
    const ts = proc.now();
    log(`\n== ${sc.title}`);
    let result;
    try {
      result = await sc.run(ctx);
    } catch (err) {
      // One scenario failing (e.g. a contender that cannot start) must not lose the others.
      log(`   ${name} failed: ${err.stack || err}`);
      result = { error: String(err.message || err).split('\n')[0], samples: [], tables: [] };
    }
    result.seconds = (proc.now() - ts) / 1000;
    log(`   (${result.seconds.toFixed(0)} s)`);
    sections.push({ title: sc.title, ...result });
    raw.scenarios[name] = { seconds: result.seconds, error: result.error, samples: result.samples, extra: result.extra, goals: result.goals };
  }
  const elapsedS = (proc.now() - t0) / 1000;
  raw.elapsedS = elapsedS;
  raw.quietBudgetLeftMs = ctx.quietBudget.leftMs;
  const command = `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim();
  const md = report.markdownReport({ machineLine, nodeLine: m.nodeLine, mode, elapsedS, sections, command });

  fs.mkdirSync(opts.out, { recursive: true });
  const base = path.join(opts.out, mode);
  fs.writeFileSync(`${base}.md`, md);
  fs.writeFileSync(`${base}.json`, JSON.stringify(raw, roundNumbers) + '\n');
  const tp = raw.scenarios.throughput;
  if (tp && tp.samples && tp.samples.length) chart(raw, `${base}.svg`);
  process.stdout.write(`\n${md}\n`);
  if (opts.updateReadme) {
    updateReadme(path.join(__dirname, 'README.md'), md, path.relative(__dirname, base), m.nodeLine);
    log('Updated the figures in bench/README.md');
  }
  log(`Wrote ${path.relative(process.cwd(), base)}.{md,json${tp && tp.samples && tp.samples.length ? ',svg' : ''}} in ${elapsedS.toFixed(0)} s`);
  return sections.some((s) => s.error) ? 1 : 0;
}

/** Rewrites the figures between the markers in bench/README.md with this run's report. */
function updateReadme(file, md, relBase, nodeLine) {
  const text = fs.readFileSync(file, 'utf8');
  const start = '<!-- bench:figures:start -->';
  const end = '<!-- bench:figures:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`${file} has no ${start} … ${end} block`);
  // The report's own title and the '##' levels move one level down under "Latest figures".
  const body = md.split('\n').slice(2).map((l) => (l.startsWith('#') ? `#${l}` : l)).join('\n').trim();
  const chart = `![throughput and master CPU](${relBase}.svg)`;
  const block = `${start}\nFrom [\`${relBase}.md\`](${relBase}.md) (raw samples: [\`${relBase}.json\`](${relBase}.json)), on ${nodeLine}.\n\n${chart}\n\n${body}\n${end}`;
  fs.writeFileSync(file, text.slice(0, i) + block + text.slice(j + end.length));
}

/** Keeps the raw JSON small: 4 significant decimals are plenty for these measurements. */
function roundNumbers(key, value) {
  return typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1e4) / 1e4 : value;
}

process.on('exit', () => proc.killAll());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`\n${sig}: stopping everything the bench started`);
    proc.killAll();
    process.exit(130);
  });
}

main().then((code) => {
  proc.killAll();
  // Exit now: a stray handle (a client socket, a timer) must not keep a finished bench alive.
  // stdout/stderr are synchronous for files and pipes on Linux, so nothing printed is lost.
  process.exit(code);
}, (err) => {
  log(err.usage ? `bench: ${err.message}` : `bench failed: ${err.stack || err}`);
  proc.killAll();
  process.exitCode = err.usage ? 2 : 1;
});
