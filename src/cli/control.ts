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
  const reply = await request(socketPath, command, command === 'reload' ? timeoutMs : 10_000);
  if (!reply.ok) {
    process.stderr.write(`sockrun ${command}: ${String(reply.message)}\n`);
    return command === 'reload' ? ExitCode.RELOAD_FAILED : ExitCode.CONTROL_FAILED;
  }
  if (command === 'reload') {
    process.stdout.write(`reloaded: ${String(reply.message)} in ${String(reply.durationMs)} ms\n`);
    return ExitCode.OK;
  }
  // shutdown / stop: return once the master is gone, so scripts can chain on it.
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
  while (isAlive(masterPid)) {
    if (Date.now() > deadline) throw new SockrunError('SOCKRUN_ERR_CONTROL', `master ${masterPid} still running after ${args.timeout} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write(`master ${masterPid} stopped\n`);
  return ExitCode.OK;
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
