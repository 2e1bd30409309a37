/**
 * npm in front of sockrun (issue 14). `npm start` and `npx sockrun` run sockrun under a `sh -c`
 * that npm spawns; SIGTERM to npm (a process manager stopping "the app") reaches npm and that
 * shell, which die, but not sockrun: it kept serving, re-parented, with nobody left to stop it.
 * `exec node_modules/.bin/sockrun` (no npm in front) is the fix the docs give; this is the
 * safety net: when the process that started sockrun through a package manager goes away,
 * sockrun drains as on SIGTERM (it signals itself, so the master and `--workers 0` both do what
 * they do on SIGTERM).
 *
 * Only then: a parent that exits is otherwise normal and often deliberate — `nohup sockrun &`
 * from a deploy script, a daemonizing wrapper, systemd (PID 1, or a user manager that never
 * exits), sockrun as PID 1 in a container. The rule, as one pure function:
 *   * started by a package manager's script runner: `npm_lifecycle_event` in the environment
 *     (npm start/run, npx/npm exec, yarn and pnpm set it);
 *   * not PID 1, and the parent is not already init (started by systemd or already orphaned);
 *   * not a session leader (setsid: detached on purpose).
 */
import fs = require('node:fs');

/** How often the parent is checked: a drain starts within this long after the parent died. */
const CHECK_MS = 500;

export interface ProcessFacts {
  pid: number;
  ppid: number;
  /** Session id from /proc/self/stat; undefined when /proc cannot tell. */
  sid: number | undefined;
  env: NodeJS.ProcessEnv;
}

export type ParentWatchPlan = { watch: true; parent: number; startedBy: string } | { watch: false; reason: string };

/** Whether to drain when the parent goes away (see the module comment). */
export function parentWatchPlan(p: ProcessFacts): ParentWatchPlan {
  const event = p.env.npm_lifecycle_event;
  if (!event) return { watch: false, reason: 'not started by a package manager' };
  if (p.pid === 1) return { watch: false, reason: 'PID 1' };
  if (p.ppid <= 1) return { watch: false, reason: 'the parent is init (systemd, or already gone)' };
  if (p.sid === p.pid) return { watch: false, reason: 'a session leader (detached with setsid)' };
  const manager = p.env.npm_command === 'exec' || event === 'npx' ? 'npx' : `${packageManager(p.env)} ${event === 'start' ? 'start' : `run ${event}`}`;
  return { watch: true, parent: p.ppid, startedBy: manager };
}

function packageManager(env: NodeJS.ProcessEnv): string {
  const agent = env.npm_config_user_agent ?? '';
  return /^(yarn|pnpm|bun)\//.exec(agent)?.[1] ?? 'npm';
}

/** This process's facts, read now. */
export function processFacts(): ProcessFacts {
  let sid: number | undefined;
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    // After "(comm) ": state ppid pgrp session …
    sid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  } catch {
    sid = undefined;
  }
  return { pid: process.pid, ppid: process.ppid, sid, env: process.env };
}

/** The slice of a pino logger used here. */
interface WatchLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Starts watching when parentWatchPlan() says so: every CHECK_MS (unref'd, it never keeps the
 * process alive) compares `process.ppid` with the parent at start; once it differs, logs why
 * and sends SIGTERM to this process, once. A SIGTERM, SIGINT or SIGQUIT that reaches sockrun by
 * itself ends the watch: something is already stopping it, and a second SIGTERM from here would
 * turn its drain into a stop (npm forwards SIGTERM to its child, then exits). Returns a function
 * that stops watching.
 */
export function watchParent(log: WatchLog, facts: ProcessFacts = processFacts()): () => void {
  const plan = parentWatchPlan(facts);
  if (!plan.watch) return () => {};
  log.info({ parent: plan.parent, startedBy: plan.startedBy }, `started by ${plan.startedBy}: sockrun drains if its parent (pid ${plan.parent}) goes away; run node_modules/.bin/sockrun without npm in front to let signals reach it directly`);
  const stop = () => {
    clearInterval(timer);
    for (const sig of STOP_SIGNALS) process.removeListener(sig, stop);
  };
  const timer = setInterval(() => {
    const now = process.ppid;
    if (now === plan.parent) return;
    stop();
    log.warn({ parent: plan.parent, ppid: now, startedBy: plan.startedBy }, `the process that started sockrun (${plan.startedBy}, pid ${plan.parent}) is gone; nothing would stop sockrun any more: draining as on SIGTERM`);
    process.kill(process.pid, 'SIGTERM');
  }, CHECK_MS);
  timer.unref();
  // Installed after sockrun's own handlers (run.ts), so these never decide what a signal does.
  for (const sig of STOP_SIGNALS) process.on(sig, stop);
  return stop;
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
