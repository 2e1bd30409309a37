/**
 * The command line: `sockrun [run] [options] <app> [-- <app args>]` and the control commands
 * `sockrun reload|shutdown|stop|status`. Every failure the user can cause ends in one line on
 * stderr and a documented exit code (errors.ts).
 */
import { ExitCode, SockrunError, usageError } from '../errors';
import { RawOptions, readConfigFile, resolveConfiguration } from '../config/resolve';
import { parseRunArgs } from './argv';
import { CONTROL_COMMANDS } from './early-signals';
import { runMaster } from './run';

export async function main(argv: string[]): Promise<void> {
  try {
    const code = await dispatch(argv);
    process.exitCode = code;
  } catch (err) {
    fail(err);
  }
}

async function dispatch(argv: string[]): Promise<number> {
  if (CONTROL_COMMANDS.includes(argv[0])) {
    const { runControl } = require('./control') as typeof import('./control');
    return runControl(argv[0], argv.slice(1));
  }
  const args = argv[0] === 'run' ? argv.slice(1) : argv;
  // The usual command line is read without yargs (argv.ts); help, version and mistakes go to it.
  const parsed = parseRunArgs(args) ?? await (require('./usage') as typeof import('./usage')).parseWithYargs(args);
  if (parsed === 'done') return ExitCode.OK;
  const { app, appArgs } = parsed;
  if (!app) throw usageError('missing the app to run (sockrun [options] <app.js> [-- args]); see sockrun --help');
  const configPath = parsed.config ?? process.env.SOCKRUN_CONFIG;
  const file: RawOptions = configPath ? readConfigFile(configPath) : {};
  const config = resolveConfiguration(parsed.options, process.env, file, app, appArgs);
  return runMaster(config);
}

function fail(err: unknown): void {
  if (err instanceof SockrunError) {
    process.stderr.write(`sockrun: ${err.message}\n`);
    process.exitCode = err.exitCode;
    return;
  }
  process.stderr.write(`sockrun: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = ExitCode.INTERNAL;
}
