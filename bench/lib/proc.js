'use strict';
/**
 * Processes the benchmark starts, and what it reads about them from /proc.
 *
 * Every process is spawned as the leader of its own process group (detached), remembered, and
 * killed by pid and by group at the end, even on error or Ctrl-C: the bench must never leave a
 * server behind. Nothing here ever signals a process the bench did not start (or a descendant
 * of one it started).
 */
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const started = new Set();
const tmpDirs = new Set();

/** A temp directory that is removed at the end even on error (see killAll). */
function mkdtemp(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(dir);
  return dir;
}

function rmTemp(dir) {
  if (!dir) return;
  fs.rmSync(dir, { recursive: true, force: true });
  tmpDirs.delete(dir);
}

/** Clock ticks per second for /proc/<pid>/stat utime and stime (getconf CLK_TCK). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * Starts a process in its own group and remembers it. Returns the ChildProcess, with `exited`
 * (a promise of {code, signal}) and `output()` (what it printed, capped, for error messages).
 */
function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env || process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  started.add(child);
  let out = '';
  const keep = (d) => {
    out += d;
    if (out.length > 64 * 1024) out = out.slice(-32 * 1024);
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (opts.onStdout) child.stdout.on('data', opts.onStdout);
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      started.delete(child);
      resolve({ code, signal, at: process.hrtime.bigint() });
    });
    child.on('error', (err) => {
      started.delete(child);
      keep(String(err));
      resolve({ code: -1, signal: null, error: err, at: process.hrtime.bigint() });
    });
  });
  child.output = () => out;
  return child;
}

/** Runs a command to completion; resolves {code, stdout, stderr}. */
function run(cmd, args, opts = {}) {
  const child = start(cmd, args, opts);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let timer;
  if (opts.timeoutMs) {
    timer = setTimeout(() => killTree(child.pid, 'SIGKILL'), opts.timeoutMs);
  }
  return child.exited.then(({ code, signal }) => {
    clearTimeout(timer);
    return { code, signal, stdout, stderr };
  });
}

/** Direct children of pid, from /proc/<pid>/task/<tid>/children (all threads). */
function children(pid) {
  const out = [];
  let tasks;
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) for (const c of text.split(/\s+/)) out.push(Number(c));
    } catch {
      /* the thread ended */
    }
  }
  return [...new Set(out)];
}

/** pid and all its descendants, parents first. */
function tree(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}

/** utime+stime of one process in seconds, or NaN when it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** VmRSS of one process in bytes, or NaN when it is gone. */
function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Memory only this process uses (Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup), in
 * bytes, or NaN. RSS also counts the pages of the node binary it shares with every other node
 * process; this does not.
 */
function privateBytes(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text) || [])[1]);
    return (kb('Private_Clean') + kb('Private_Dirty')) * 1024;
  } catch {
    return NaN;
  }
}

/** CPU seconds all cores spent busy since boot (/proc/stat: user nice system irq softirq steal). */
function systemBusySeconds() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds of the bench process itself plus its reaped children (cutime+cstime): wrk runs
 * as a direct child, so the delta across one wrk run is wrk's CPU plus the harness's own.
 */
function selfAndReapedSeconds() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Busy cores of the whole machine over windowMs. */
async function busyCores(windowMs = 150) {
  const a = systemBusySeconds();
  const t = now();
  await sleep(windowMs);
  return (systemBusySeconds() - a) / ((now() - t) / 1000);
}

/**
 * Waits until the machine is quiet (fewer than `threshold` busy cores over 150 ms) or the shared
 * budget of waiting runs out, so that a sample does not start in the middle of someone else's
 * burst. budget: {leftMs}; it is spent across the whole run so the run stays bounded.
 */
async function quietGate(budget, threshold = 0.3, capMs = 1500) {
  const t0 = now();
  let cores = await busyCores();
  // At most capMs per sample, so that one long burst early on does not eat the whole budget.
  while (cores >= threshold && budget.leftMs > 0 && now() - t0 < capMs) {
    const t = now();
    cores = await busyCores();
    budget.leftMs -= now() - t;
  }
  return { waitedMs: now() - t0, busyCores: cores };
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Signals pid's whole tree (descendants first seen now) and its process group. */
function killTree(pid, sig = 'SIGKILL') {
  const pids = tree(pid);
  signal(-pid, sig);
  for (const p of pids.reverse()) signal(p, sig);
}

/** Ends one started process: SIGTERM, then SIGKILL for the whole tree after graceMs. */
async function stop(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) {
    killTree(child.pid, 'SIGKILL');
    return;
  }
  const pids = tree(child.pid);
  signal(child.pid, 'SIGTERM');
  const how = await within(child.exited, graceMs, 'timeout');
  if (how === 'timeout') killTree(child.pid, 'SIGKILL');
  // Stragglers: descendants that outlived their parent (they would be reparented to init).
  for (const p of pids) signal(p, 'SIGKILL');
  signal(-child.pid, 'SIGKILL');
}

/** Kills everything still running that the bench started and removes its temp dirs. Synchronous: safe in 'exit'. */
function killAll() {
  for (const child of started) killTree(child.pid, 'SIGKILL');
  started.clear();
  for (const dir of tmpDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort at exit */
    }
  }
  tmpDirs.clear();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves `promise`, or `fallback` after ms; the timer never keeps the process alive. */
function within(promise, ms, fallback = null) {
  let timer;
  const deadline = new Promise((r) => {
    timer = setTimeout(r, ms, fallback);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Polls fn() every intervalMs until it returns a truthy value or timeoutMs passes. */
async function waitFor(fn, { timeoutMs = 15000, intervalMs = 10, what = 'condition' } = {}) {
  const deadline = now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

module.exports = {
  CLK_TCK, start, run, children, tree, cpuSeconds, rssBytes, privateBytes, systemBusySeconds, selfAndReapedSeconds, alive, signal, killTree, stop, killAll,
  sleep, within, now, waitFor, started, mkdtemp, rmTemp, busyCores, quietGate,
};
