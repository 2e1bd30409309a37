/**
 * The common `sockrun [run] [options] <app> [args]` command line, read without yargs.
 *
 * Loading yargs cost the master ~50 ms of CPU and ~3 MB of RSS before its first spawn, more
 * than the rest of sockrun (issue 16). This reader takes the forms people and unit files write
 * (`--name value`, `--name=value`, `-w 2`, `--flag`, `--no-flag`, repeated list options, the app
 * and its arguments, `--`) and gives up on anything else (help, version, unknown or malformed
 * options): those go to yargs (usage.ts), which owns every help text and error message. Where it
 * answers, it answers what yargs would (test/unit/argv.test.ts compares the two).
 */
import { OPTIONS, OptionName, OptionSpec } from '../config/options';
import type { RawOptions } from '../config/resolve';

/** What the command line says, before the environment and the config file are merged in. */
export interface RunArgs {
  options: RawOptions;
  /** --config. */
  config: string | undefined;
  app: string | undefined;
  appArgs: string[];
}

const ALIASES: Record<string, OptionName> = Object.fromEntries(
  (Object.entries(OPTIONS) as [OptionName, OptionSpec][]).filter(([, s]) => s.alias).map(([name, s]) => [s.alias!, name]),
);

/** The parsed command line, or undefined when yargs must read it. */
export function parseRunArgs(args: readonly string[]): RunArgs | undefined {
  const options: Record<string, string | string[] | boolean> = {};
  let config: string | undefined;
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break; // the app: everything from here is its own
    let name: string;
    let value: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      value = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (arg.length === 2 && ALIASES[arg[1]]) {
      name = ALIASES[arg[1]];
    } else {
      return undefined;
    }
    const spec: OptionSpec | undefined = name === 'config' ? { kind: 'string', describe: '' } : OPTIONS[name as OptionName];
    if (!spec) {
      const negated = name.startsWith('no-') ? (OPTIONS[name.slice(3) as OptionName] as OptionSpec | undefined) : undefined;
      if (negated?.kind !== 'boolean' || value !== undefined || name.slice(3) in options) return undefined;
      options[name.slice(3)] = false;
      continue;
    }
    if (spec.kind === 'boolean') {
      // `--flag true` and `--flag=false` are yargs' to read.
      if (value !== undefined || args[i + 1] === 'true' || args[i + 1] === 'false' || name in options) return undefined;
      options[name] = true;
      continue;
    }
    if (value === undefined) value = args[++i];
    if (value === undefined || value === '' || value.startsWith('-')) return undefined;
    if (spec.choices && !spec.choices.includes(value)) return undefined;
    if (name === 'config') {
      if (config !== undefined) return undefined;
      config = value;
    } else if (spec.kind === 'list') {
      options[name] = [...((options[name] as string[] | undefined) ?? []), value];
    } else {
      if (name in options) return undefined; // given twice: let yargs and the resolver say so
      options[name] = value;
    }
  }
  const [app, ...rest] = args.slice(i);
  return { options: options as RawOptions, config, app, appArgs: rest[0] === '--' ? rest.slice(1) : rest };
}
