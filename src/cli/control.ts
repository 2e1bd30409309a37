/** `sockrun reload|shutdown|stop|status`: the client side of the control socket. */
import yargs from 'yargs';
import { ExitCode, SockrunError, usageError } from '../errors';
import { findMaster, isAlive, request } from '../control/client';
import type { MasterSnapshot } from '../master/master';

export async function runControl(command: string, argv: string[]): Promise<number> {
  const args = await yargs(argv)
    .scriptName(`sockrun ${command}`)
    .option('pid', { type: 'number', describe: 'pid of the master' })
    .option('pid-file', { type: 'string', describe: 'the master\'s --pid-file' })
    .option('control-socket', { type: 'string', describe: 'the master\'s --control-socket, if it set one' })
    .option('json', { type: 'boolean', default: false, describe: 'status: machine-readable output' })
    .option('timeout', { type: 'number', default: 0, describe: 'seconds to wait for reload/shutdown (0 = no limit)' })
    .strictOptions()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? usageError(`${msg} (see sockrun ${command} --help)`);
    })
    .parseAsync();
  if (args.help) return ExitCode.OK;
  const pid = args.pid !== undefined && !Number.isInteger(args.pid) ? NaN : args.pid;
  if (Number.isNaN(pid)) throw usageError('--pid: expected a process id');
  const { pid: masterPid, socketPath } = findMaster({ pid, pidFile: args['pid-file'], controlSocket: args['control-socket'] });
  const timeoutMs = args.timeout * 1000;

  if (command === 'status') {
    const reply = await request(socketPath, 'status', 10_000);
    const status = reply.status as MasterSnapshot;
    process.stdout.write(args.json ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
    return ExitCode.OK;
  }
  if (command === 'reload') {
    const reply = await request(socketPath, command, timeoutMs);
    if (!reply.ok) {
      process.stderr.write(`sockrun reload: ${String(reply.message)}\n`);
      return reply.notNow ? ExitCode.NOT_READY : ExitCode.RELOAD_FAILED;
    }
    process.stdout.write(`reloaded: ${String(reply.message)} in ${String(reply.durationMs)} ms\n`);
    return ExitCode.OK;
  }
  // shutdown / stop: answered once the master stopped, with its exit code (9 when the drain had
  // to kill), so scripts can chain on it and see how it ended.
  let reply: Record<string, unknown>;
  try {
    reply = await request(socketPath, command, timeoutMs, { wait: true });
  } catch (err) {
    if (isAlive(masterPid)) throw err;
    throw new SockrunError('SOCKRUN_ERR_CONTROL', `master ${masterPid} exited without reporting how (${(err as Error).message})`);
  }
  if (!reply.ok) {
    process.stderr.write(`sockrun ${command}: ${String(reply.message)}\n`);
    return ExitCode.CONTROL_FAILED;
  }
  const deadline = Date.now() + 5000;
  while (isAlive(masterPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  // A master from before exit codes were reported acknowledges at once: wait for it to go.
  while (typeof reply.exitCode !== 'number' && isAlive(masterPid)) await new Promise((r) => setTimeout(r, 50));
  const code = typeof reply.exitCode === 'number' ? reply.exitCode : ExitCode.OK;
  process.stdout.write(`master ${masterPid} stopped${code === ExitCode.OK ? '' : ` (exit ${code})`}\n`);
  return code;
}

function formatStatus(s: MasterSnapshot): string {
  const mb = (b: number) => `${(b / 1048576).toFixed(1)}M`;
  const secs = (ms: number) => `${Math.round(ms / 1000)}s`;
  const rows = [
    ['PID', 'ROLE', 'GEN', 'STATE', 'UPTIME', 'CONNS', 'CONNS TOTAL', 'REQUESTS', 'RSS'],
    [String(s.pid), 'master', String(s.generation), s.state, secs(s.uptimeMs), String(s.connectionsActive), String(s.connectionsTotal), String(s.requestsTotal), ''],
    ...s.workers.map((w) => [String(w.pid), `worker ${w.id}`, String(w.generation), w.stage, secs(w.uptimeMs), String(w.connectionsActive), String(w.connectionsTotal), String(w.requestsTotal), mb(w.rssBytes)]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
  // Which release each generation runs (symlinked deploys: `current -> releases/N`).
  const releases = (s.generations ?? []).map((g) => `generation ${g.generation}: ${g.app} (in ${g.cwd})`).join('\n');
  return releases ? `${table}\n${releases}\n` : table;
}
