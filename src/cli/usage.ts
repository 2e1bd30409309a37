/**
 * The full command line through yargs: `--help`, `--version`, and every form argv.ts leaves to it,
 * with yargs' own error messages. Loaded only when needed (it costs ~50 ms and ~3 MB, issue 16).
 */
import yargs, { Argv } from 'yargs';
import { OPTIONS, OptionName, OptionSpec, envName } from '../config/options';
import type { RawOptions } from '../config/resolve';
import { SockrunError, usageError } from '../errors';
import type { RunArgs } from './argv';

/** The parsed command line, or 'done' when yargs answered it itself (help, version). */
export async function parseWithYargs(args: string[]): Promise<RunArgs | 'done'> {
  const parsed = await runParser(args).parseAsync();
  if (parsed.help || parsed.version) return 'done';
  // Everything from the app on belongs to the app (halt-at-non-option puts it under '--').
  const positional = [...(parsed._ as (string | number)[]), ...((parsed['--'] as string[] | undefined) ?? [])].map(String);
  const [app, ...rest] = positional;
  const options: RawOptions = {};
  for (const name of Object.keys(OPTIONS) as OptionName[]) {
    if (parsed[name] !== undefined) options[name] = parsed[name] as never;
  }
  return { options, config: parsed.config as string | undefined, app, appArgs: rest[0] === '--' ? rest.slice(1) : rest };
}

function runParser(args: string[]): Argv {
  let y = yargs(args)
    .scriptName('sockrun')
    .usage('Usage: sockrun [run] [options] <app> [-- <app args>]\n       sockrun reload|shutdown|stop|status --pid <pid> | --pid-file <path>\n\nRun a Node.js server as workers that accept directly on sockets from systemd, an inherited fd or sockrun\'s own bind.')
    // App arguments are the app's, as typed: `007` stays `007`.
    .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true, 'camel-case-expansion': false, 'boolean-negation': true, 'parse-positional-numbers': false })
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
    .version((require('../../package.json') as { version: string }).version)
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
