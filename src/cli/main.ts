/**
 * The command line: `sockrun [run] [options] <app> [-- <app args>]` and the control commands
 * `sockrun reload|shutdown|stop|status`. Every failure the user can cause ends in one line on
 * stderr and a documented exit code (errors.ts).
 */
import yargs, { Argv } from 'yargs';
import { ExitCode, SockrunError, usageError } from '../errors';
import { OPTIONS, OptionSpec, envName } from '../config/options';
import { RawOptions, readConfigFile, resolveConfiguration } from '../config/resolve';
import { runControl } from './control';
import { CONTROL_COMMANDS } from './early-signals';
import { runMaster } from './run';

const VERSION: string = (require('../../package.json') as { version: string }).version;

export async function main(argv: string[]): Promise<void> {
  try {
    const code = await dispatch(argv);
    process.exitCode = code;
  } catch (err) {
    fail(err);
  }
}

async function dispatch(argv: string[]): Promise<number> {
  if (CONTROL_COMMANDS.includes(argv[0])) return runControl(argv[0], argv.slice(1));
  const args = argv[0] === 'run' ? argv.slice(1) : argv;
  const parsed = await runParser(args).parseAsync();
  if (parsed.help || parsed.version) return ExitCode.OK;
  // Everything from the app on belongs to the app (halt-at-non-option puts it under '--').
  const positional = [...(parsed._ as (string | number)[]), ...((parsed['--'] as string[] | undefined) ?? [])].map(String);
  const [app, ...rest] = positional;
  if (!app) throw usageError('missing the app to run (sockrun [options] <app.js> [-- args]); see sockrun --help');
  const appArgs = rest[0] === '--' ? rest.slice(1) : rest;
  const configPath = (parsed.config as string | undefined) ?? process.env.SOCKRUN_CONFIG;
  const file: RawOptions = configPath ? readConfigFile(configPath) : {};
  const cli: RawOptions = {};
  for (const name of Object.keys(OPTIONS) as (keyof typeof OPTIONS)[]) {
    if (parsed[name] !== undefined) cli[name] = parsed[name] as never;
  }
  const config = resolveConfiguration(cli, process.env, file, app, appArgs);
  return runMaster(config);
}

function runParser(args: string[]): Argv {
  let y = yargs(args)
    .scriptName('sockrun')
    .usage('Usage: sockrun [run] [options] <app> [-- <app args>]\n       sockrun reload|shutdown|stop|status --pid <pid> | --pid-file <path>\n\nRun a Node.js server as workers that accept directly on sockets from systemd, an inherited fd or sockrun\'s own bind.')
    .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true, 'camel-case-expansion': false, 'boolean-negation': true })
    .option('config', { type: 'string', describe: 'JSON file of options (keys as the long option names). Env: SOCKRUN_CONFIG.', group: 'Process and logging:' });
  for (const [name, spec] of Object.entries(OPTIONS) as [string, OptionSpec][]) {
    y = y.option(name, {
      alias: spec.alias,
      // Lists are repeated string options, not yargs arrays: an array would swallow the app's path.
      type: spec.kind === 'boolean' ? 'boolean' : 'string',
      describe: `${spec.describe} Env: ${envName(name)}.`,
      choices: spec.choices as string[] | undefined,
      defaultDescription: spec.default === undefined ? undefined : String(spec.default),
      group: spec.group,
      requiresArg: spec.kind !== 'boolean',
    });
  }
  return y
    .example('sockrun --workers 2 --listen 127.0.0.1:8080 app.js', 'bind 127.0.0.1:8080; app.js may call server.listen(3000): it gets the shared socket')
    .example('systemd-socket-activate -l 127.0.0.1:8080 sockrun app.js', 'sockets from systemd (LISTEN_FDS), here from the test tool')
    .example('sockrun --fd 3:http app.js 3<>/dev/null', 'a parent opened the listening socket as fd 3')
    .example('sockrun --admin 127.0.0.1:9091 --drain-delay 10s -l 8080 app.js', 'Kubernetes: probes on :9091, not ready 10 s before draining')
    .example('sockrun reload --pid-file /run/app.pid', 'rolling reload; returns when every worker was replaced')
    .epilog('Durations: 500ms, 5s, 2m, 1h (a bare number is milliseconds). Sizes: 512M, 1G. Exit codes: see README.')
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .strictOptions()
    .exitProcess(false)
    .fail((msg, err) => {
      // yargs reads a value that begins with "-" as the next option: `--node-args --inspect`.
      const option = /^Not enough arguments following: (\S+)$/.exec(msg ?? '')?.[1];
      const example = option === 'node-args' ? '"--inspect --enable-source-maps"' : 'VALUE';
      if (option) throw usageError(`--${option} needs a value; one that begins with "-" must be attached with "=" (--${option}=${example})`);
      throw err instanceof SockrunError ? err : usageError(`${msg ?? err?.message} (see sockrun --help)`);
    })
    .wrap(Math.min(110, process.stdout.columns || 100));
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
