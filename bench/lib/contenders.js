'use strict';
/**
 * The contenders: ways to run the same unmodified bench/apps/hello.js on a loopback port.
 *
 *   single        one process, `node hello.js`
 *   cluster-rr    Node's cluster module, default SCHED_RR: the primary accepts and passes
 *   cluster-none  Node's cluster module, SCHED_NONE: workers accept on a socket the primary sent
 *   pm2           PM2 cluster mode under pm2-runtime (round-robin in the God process)
 *   sockrun       bin/sockrun.js: the master holds the socket, workers accept on the inherited fd
 *
 * start() resolves an Instance once every worker listens (each contender has its own honest
 * signal, see ready()), with the master's pid, its workers' pids, and the verbs the scenarios
 * need: stop(), reload() where the contender has one. The app is bench/apps/hello.js unless
 * `env.BENCH_APP` names another one of bench/apps (h2.js, ws.js).
 */
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const proc = require('./proc');
const { get } = require('./http');

const ROOT = path.resolve(__dirname, '..', '..');
const APPS = path.join(ROOT, 'bench', 'apps');
const SOCKRUN = path.join(ROOT, 'bin', 'sockrun.js');
const PM2_RUNTIME = path.join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2-runtime');
const PM2 = path.join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');

/** How many workers "auto" means for each contender on this machine. */
function autoWorkers() {
  return os.availableParallelism ? os.availableParallelism() : os.cpus().length;
}

function baseEnv(extra) {
  const env = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  for (const k of Object.keys(env)) if (k.startsWith('SOCKRUN_') || k.startsWith('PM2_') || k === 'LISTEN_FDS' || k === 'LISTEN_PID') delete env[k];
  return env;
}

/** The pid that answers one HTTP/1.1 request on a new connection (its x-pid), else undefined. */
async function httpPid(port) {
  const r = await get(port, '/', { timeoutMs: 1000 });
  return r.ok && r.headers['x-pid'] ? Number(r.headers['x-pid']) : undefined;
}

/** Distinct pids seen by probing (`probe(port)`: one new connection) until `n` are seen (round-robin contenders). */
async function seenPids(port, n, timeoutMs, probe = httpPid) {
  const seen = new Set();
  await proc.waitFor(async () => {
    const pid = await probe(port);
    if (pid) seen.add(pid);
    return seen.size >= n;
  }, { timeoutMs, intervalMs: 5, what: `${n} workers answering on :${port}` });
  return seen;
}

/** One JSON line request on sockrun's control socket (see src/control). */
function control(socketPath, cmd, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      resolve(null);
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify({ cmd }) + '\n'));
    conn.on('data', (d) => (buf += d));
    conn.on('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
    conn.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf));
      } catch {
        resolve(null);
      }
    });
  });
}

class Instance {
  constructor(contender, child, opts) {
    this.contender = contender;
    this.name = contender.name;
    this.child = child;
    this.masterPid = child.pid;
    this.port = opts.port;
    this.workers = opts.workers;
    this.startedAt = opts.t0;
    this.tmp = opts.tmp;
  }

  /** The processes serving requests: the master's children (the master itself for single). */
  workerPids() {
    if (this.contender.name === 'single') return [this.masterPid];
    return proc.children(this.masterPid);
  }

  exited() {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  async stop(graceMs = 5000) {
    await proc.stop(this.child, graceMs);
    proc.rmTemp(this.tmp);
  }
}

function failStart(child, what, err) {
  proc.killTree(child.pid, 'SIGKILL');
  const out = child.output().trim().split('\n').slice(-15).join('\n');
  throw new Error(`${what} did not become ready: ${err.message}\n${out}`);
}

const single = {
  name: 'single',
  label: 'single process',
  kind: 'single',
  async start({ port, statsDir, env = {}, timeoutMs = 20000 }) {
    const t0 = proc.now();
    const child = proc.start(process.execPath, [path.join(APPS, 'single.js')], {
      env: baseEnv({ PORT: String(port), HOST: '127.0.0.1', HELLO_STATS_DIR: statsDir || '', ...env }),
    });
    const inst = new Instance(this, child, { port, workers: 1, t0 });
    try {
      await proc.waitFor(async () => !inst.exited() && (await get(port, '/', { timeoutMs: 1000 })).ok,
        { timeoutMs, intervalMs: 2, what: 'single process answering' });
    } catch (err) {
      failStart(child, 'single', err);
    }
    inst.readyMs = proc.now() - t0;
    return inst;
  },
};

function clusterContender(name, label, kind, script) {
  return {
    name,
    label,
    kind,
    async start({ port, workers, statsDir, env = {}, metricsPort, timeoutMs = 30000 }) {
      const n = workers === 'auto' ? autoWorkers() : Number(workers);
      const t0 = proc.now();
      let ready = false;
      let readyAt = 0;
      let reloads = 0;
      const child = proc.start(process.execPath, [path.join(APPS, script)], {
        env: baseEnv({
          PORT: String(port), HOST: '127.0.0.1', HELLO_STATS_DIR: statsDir || '', BENCH_WORKERS: String(workers),
          BENCH_METRICS_PORT: metricsPort ? String(metricsPort) : '', ...env,
        }),
        onStdout: (d) => {
          if (!ready && /^READY$/m.test(d)) {
            ready = true;
            readyAt = proc.now();
          }
          reloads += (d.match(/^RELOADED$/gm) || []).length;
        },
      });
      const inst = new Instance(this, child, { port, workers: n, t0 });
      try {
        await proc.waitFor(() => ready || (inst.exited() && Promise.reject(new Error('exited'))),
          { timeoutMs, intervalMs: 2, what: 'READY from the cluster primary' });
      } catch (err) {
        failStart(child, name, err);
      }
      inst.readyMs = readyAt - t0;
      inst.metricsPort = metricsPort;
      // SIGHUP: the primary's rolling restart; done when it prints RELOADED (every old worker exited).
      inst.reload = async () => {
        const t = proc.now();
        const before = reloads;
        proc.signal(child.pid, 'SIGHUP');
        const ok = await proc.waitFor(() => reloads > before, { timeoutMs: 120000, intervalMs: 5, what: 'RELOADED' }).then(() => true, () => false);
        return { ms: proc.now() - t, ok };
      };
      return inst;
    },
  };
}

const clusterRR = clusterContender('cluster-rr', 'Node cluster (default, round-robin)', 'rr', 'cluster-rr.js');
const clusterNone = clusterContender('cluster-none', 'Node cluster SCHED_NONE', 'shared', 'cluster-none.js');

const pm2 = {
  name: 'pm2',
  label: 'PM2 cluster mode (pm2-runtime)',
  kind: 'rr',
  async start({ port, workers, statsDir, env = {}, timeoutMs = 30000, probe }) {
    const n = workers === 'auto' ? autoWorkers() : Number(workers);
    // Each pm2-runtime gets its own PM2_HOME: its RPC sockets, pids and logs stay apart.
    const tmp = proc.mkdtemp('bench-pm2-');
    const t0 = proc.now();
    const child = proc.start(process.execPath, [PM2_RUNTIME, path.join(APPS, 'pm2.config.js')], {
      env: baseEnv({ PM2_HOME: tmp, PORT: String(port), HELLO_STATS_DIR: statsDir || '', BENCH_WORKERS: String(workers), ...env }),
    });
    const inst = new Instance(this, child, { port, workers: n, t0, tmp });
    inst.pm2Home = tmp;
    try {
      // PM2 cluster mode round-robins in the God process: n distinct x-pid answers in a row
      // mean n workers are listening.
      await seenPids(port, n, timeoutMs, probe);
    } catch (err) {
      proc.rmTemp(tmp);
      failStart(child, 'pm2', err);
    }
    inst.readyMs = proc.now() - t0;
    inst.reload = async () => {
      const t = proc.now();
      const r = await proc.run(process.execPath, [PM2, 'reload', 'hello'], { env: baseEnv({ PM2_HOME: tmp }), timeoutMs: 120000 });
      return { ms: proc.now() - t, ok: r.code === 0, output: r.code === 0 ? '' : r.stdout + r.stderr };
    };
    return inst;
  },
};

const sockrun = {
  name: 'sockrun',
  label: 'sockrun',
  kind: 'shared',
  async start({ port, workers, statsDir, env = {}, adminPort, timeoutMs = 30000, extraArgs = [], logLevel = 'warn' }) {
    const n = workers === 'auto' ? autoWorkers() : Number(workers);
    const tmp = proc.mkdtemp('bench-sockrun-');
    const ctl = path.join(tmp, 'control.sock');
    const args = [SOCKRUN, '--workers', String(workers), '--listen', `127.0.0.1:${port}`, '--log-level', logLevel,
      '--control-socket', ctl, ...extraArgs];
    if (adminPort) args.push('--admin', `127.0.0.1:${adminPort}`);
    args.push(path.join(APPS, env.BENCH_APP || 'hello.js'));
    const t0 = proc.now();
    // With --log-level info (sockrun's default) the master's own log lines say when every worker
    // listens and when it is READY: nothing polls it while it boots. Otherwise its control socket
    // status is polled every 5 ms.
    const byLog = logLevel === 'info';
    let listened = 0;
    let readyAt;
    let answeringMs;
    // The time the master gives each line (its clock when the worker's message arrived), not when
    // the line reached us: lines logged before pino loaded (it loads after the first spawn) are
    // held and written a few tens of ms later.
    const epoch0 = Date.now();
    const logged = (line) => Date.parse(JSON.parse(line).time) - epoch0;
    let partial = '';
    const onStdout = !byLog ? undefined : (d) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        if (line.includes('"msg":"worker listening"') && ++listened === n) answeringMs = logged(line);
        if (line.includes('"msg":"ready"')) readyAt = t0 + logged(line);
      }
    };
    // No PORT: the app calls listen(3000) and sockrun maps it to the only socket it has.
    const child = proc.start(process.execPath, args, { env: baseEnv({ HELLO_STATS_DIR: statsDir || '', ...env }), onStdout });
    const inst = new Instance(this, child, { port, workers: n, t0, tmp });
    inst.control = (cmd) => control(ctl, cmd);
    inst.adminPort = adminPort;
    try {
      // Answering = every worker listens (SETTLING: it accepts, not yet proven); READY = every
      // worker also stayed up for --settle (2 s by default: issue 12's listen-then-crash guard).
      await proc.waitFor(async () => {
        if (inst.exited()) throw new Error(`sockrun exited (${child.exitCode ?? child.signalCode})`);
        if (byLog) return readyAt !== undefined;
        const r = fs.existsSync(ctl) ? await control(ctl, 'status', 1000) : null;
        const s = r && r.status;
        const answering = s && s.workers.filter((w) => w.stage === 'SETTLING' || w.stage === 'LISTENING').length >= n;
        if (answering && answeringMs === undefined) answeringMs = proc.now() - t0;
        return s && s.state === 'READY' && s.workersReady >= n;
      }, { timeoutMs, intervalMs: byLog ? 2 : 5, what: 'sockrun READY' });
    } catch (err) {
      proc.rmTemp(tmp);
      failStart(child, 'sockrun', err);
    }
    inst.answeringMs = answeringMs;
    inst.readyMs = (readyAt ?? proc.now()) - t0;
    inst.reload = async () => {
      const t = proc.now();
      const r = await proc.run(process.execPath, [SOCKRUN, 'reload', '--pid', String(child.pid), '--control-socket', ctl], { timeoutMs: 120000 });
      return { ms: proc.now() - t, ok: r.code === 0, output: r.code === 0 ? '' : r.stdout + r.stderr };
    };
    return inst;
  },
};

const ALL = { single, 'cluster-rr': clusterRR, 'cluster-none': clusterNone, pm2, sockrun };

module.exports = { ALL, autoWorkers, seenPids, control, ROOT };
