/**
 * config/node-args.ts: how --node-args / SOCKRUN_NODE_ARGS / the config file become each
 * worker's execArgv, and how an inspector flag gives every worker its own port.
 */
import { findInspector, inspectorWarnings, parseNodeArgs, planNodeArgs, splitWords, typescriptWarning, workerNodeArgs } from '../../src/config/node-args';
import { resolveConfiguration } from '../../src/config/resolve';
import { SockrunError } from '../../src/errors';

const usage = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SockrunError);
    expect((err as SockrunError).exitCode).toBe(2);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
};

describe('splitting a --node-args value into words', () => {
  test.each([
    ['--max-old-space-size=512 --enable-source-maps', ['--max-old-space-size=512', '--enable-source-maps']],
    ['  --import=tsx\t--env-file=.env  ', ['--import=tsx', '--env-file=.env']],
    ['--title="my app" --env-file=\'a b.env\'', ['--title=my app', '--env-file=a b.env']],
    ['--require ./x\\ y.js', ['--require', './x y.js']],
    ['--conditions=a,b', ['--conditions=a,b']],
    ['', []],
  ])('%j', (text, words) => {
    expect(splitWords(text, '--node-args')).toEqual(words);
  });

  test('an unterminated quote is a usage error', () => {
    expect(usage(() => splitWords('--title="x', '--node-args'))).toMatch(/--node-args: unterminated "/);
  });
});

describe('which words are Node options', () => {
  test('flags, flags with =, and the value after the few options that read the next word', () => {
    expect(parseNodeArgs(['--max-old-space-size=512', '--import=tsx --enable-source-maps', '-r ./tracing.js'], '--node-args'))
      .toEqual(['--max-old-space-size=512', '--import=tsx', '--enable-source-maps', '-r', './tracing.js']);
  });

  test.each([
    ['app.js', /"app.js" is not a Node option/],
    ['--enable-source-maps extra.js', /"extra.js" is not a Node option \(give values with "="/],
    ['--max-old-space-size 512', /"512" is not a Node option/],
    ['--', /"--" is not a Node option/],
    ['--require', /--require needs a value/],
  ])('%j is refused', (value, message) => {
    expect(usage(() => parseNodeArgs([value], 'SOCKRUN_NODE_ARGS'))).toMatch(new RegExp(`^SOCKRUN_NODE_ARGS: ${message.source}`));
  });
});

describe('the configuration', () => {
  const resolve = (cli: object, env: NodeJS.ProcessEnv = {}, file: object = {}) => resolveConfiguration(cli, env, file, 'app.js', []);

  test('--node-args comes from the command line (repeatable), SOCKRUN_NODE_ARGS or the config file, in that order', () => {
    expect(resolve({}).nodeArgs).toEqual([]);
    expect(resolve({ 'node-args': ['--max-old-space-size=512', '--enable-source-maps'] }).nodeArgs).toEqual(['--max-old-space-size=512', '--enable-source-maps']);
    // The environment is split like a shell, not on commas (a flag's value may hold one).
    expect(resolve({}, { SOCKRUN_NODE_ARGS: '--conditions=a,b --import=tsx' }).nodeArgs).toEqual(['--conditions=a,b', '--import=tsx']);
    expect(resolve({}, {}, { 'node-args': ['--env-file=.env', '--import=tsx'] }).nodeArgs).toEqual(['--env-file=.env', '--import=tsx']);
    expect(resolve({}, {}, { 'node-args': '--inspect=9300' }).nodeArgs).toEqual(['--inspect=9300']);
    expect(resolve({ 'node-args': '--a' }, { SOCKRUN_NODE_ARGS: '--b' }, { 'node-args': '--c' }).nodeArgs).toEqual(['--a']);
  });

  test('a bad word names its source', () => {
    expect(usage(() => resolve({}, {}, { 'node-args': 'server.js' }))).toMatch(/^config "node-args": "server.js" is not a Node option/);
  });

  test('with --workers 0 there is no worker to give flags to: a usage error, not silently ignored', () => {
    expect(usage(() => resolve({ workers: '0', 'node-args': '--max-old-space-size=512' }))).toMatch(/--node-args needs worker processes/);
  });
});

describe('the inspector the workers start with', () => {
  test.each([
    [[], undefined, undefined],
    [['--inspect'], undefined, { flag: '--inspect', host: '127.0.0.1', port: 9229 }],
    [['--inspect=9300'], undefined, { flag: '--inspect', host: '127.0.0.1', port: 9300 }],
    [['--inspect-brk=0.0.0.0:9300'], undefined, { flag: '--inspect-brk', host: '0.0.0.0', port: 9300 }],
    [['--inspect-wait=localhost'], undefined, { flag: '--inspect-wait', host: 'localhost', port: 9229 }],
    [['--inspect=[::1]:9300'], undefined, { flag: '--inspect', host: '::1', port: 9300 }],
    [['--inspect-port', '9400', '--inspect'], undefined, { flag: '--inspect', host: '127.0.0.1', port: 9400 }],
    // --inspect-port alone only sets the address (for a later SIGUSR1): no inspector at start.
    [['--inspect-port=9400'], undefined, undefined],
    [[], '--max-old-space-size=512 --inspect', { flag: '--inspect', host: '127.0.0.1', port: 9229 }],
    [[], '"--inspect-brk=9500"', { flag: '--inspect-brk', host: '127.0.0.1', port: 9500 }],
    // The command line wins over NODE_OPTIONS, as in Node.
    [['--inspect=9600'], '--inspect-brk=9500', { flag: '--inspect', host: '127.0.0.1', port: 9600 }],
    [['--inspect-port=9700'], '--inspect', { flag: '--inspect', host: '127.0.0.1', port: 9700 }],
  ])('--node-args %j, NODE_OPTIONS %j', (args, nodeOptions, expected) => {
    expect(findInspector(args as string[], nodeOptions as string | undefined)).toEqual(expected);
  });

  test('a port outside 1024-65535 (and not 0) is a usage error', () => {
    expect(usage(() => findInspector(['--inspect=80'], undefined))).toMatch(/--node-args: inspector port "80" must be 0 or in 1024-65535/);
    expect(usage(() => findInspector([], '--inspect=70000'))).toMatch(/^NODE_OPTIONS: inspector port "70000"/);
  });
});

describe("each worker's execArgv", () => {
  test('without an inspector: the flags as given, for every worker', () => {
    expect(workerNodeArgs(undefined, [])).toEqual({ execArgv: [], inspectorPort: undefined });
    const plan = planNodeArgs(['--max-old-space-size=512'], undefined);
    expect(workerNodeArgs(plan, [undefined, undefined])).toEqual({ execArgv: ['--max-old-space-size=512'], inspectorPort: undefined });
  });

  test('workers take base+1, base+2, … as Node cluster does; the base port stays with the master', () => {
    const plan = planNodeArgs(['--enable-source-maps', '--inspect=9300'], undefined);
    const taken: number[] = [];
    for (let i = 0; i < 3; i++) taken.push(workerNodeArgs(plan, taken).inspectorPort!);
    expect(taken).toEqual([9301, 9302, 9303]);
    expect(workerNodeArgs(plan, []).execArgv).toEqual(['--enable-source-maps', '--inspect=9300', '--inspect-port=127.0.0.1:9301']);
  });

  test('a replacement takes the lowest port no live worker holds: the port of the one that exited', () => {
    const plan = planNodeArgs(['--inspect'], undefined);
    expect(workerNodeArgs(plan, [9231, 9232]).inspectorPort).toBe(9230);
    // During a reload the draining worker still holds its port: the new one takes the next free.
    expect(workerNodeArgs(plan, [9230, 9231, 9232]).inspectorPort).toBe(9233);
  });

  test('an inspector from NODE_OPTIONS (which workers inherit) is overridden per worker too, keeping its host', () => {
    const plan = planNodeArgs([], '--inspect=[::1]:9300');
    expect(workerNodeArgs(plan, [])).toEqual({ execArgv: ['--inspect-port=[::1]:9301'], inspectorPort: 9301 });
  });

  test('port 0 means a random port for each worker, as in Node', () => {
    const plan = planNodeArgs(['--inspect=0'], undefined);
    expect(workerNodeArgs(plan, [])).toEqual({ execArgv: ['--inspect=0'], inspectorPort: undefined });
  });
});

describe('warnings for someone debugging workers', () => {
  const plan = (args: string[]) => planNodeArgs(args, undefined);
  test('the hang timeout kills a worker paused at a breakpoint; with --inspect-brk the boot timeout kills one waiting for a debugger', () => {
    expect(inspectorWarnings(plan(['--max-old-space-size=512']), { bootTimeoutMs: 30_000, hangTimeoutMs: 30_000 })).toEqual([]);
    expect(inspectorWarnings(plan(['--inspect']), { bootTimeoutMs: 30_000, hangTimeoutMs: 30_000 })).toEqual([expect.stringMatching(/--hang-timeout 0/)]);
    expect(inspectorWarnings(plan(['--inspect-brk']), { bootTimeoutMs: 30_000, hangTimeoutMs: 30_000 })).toEqual([expect.stringMatching(/--boot-timeout 0/), expect.stringMatching(/--hang-timeout 0/)]);
    expect(inspectorWarnings(plan(['--inspect-brk']), { bootTimeoutMs: 0, hangTimeoutMs: 0 })).toEqual([]);
  });
});

describe('a TypeScript app on a Node that does not strip types', () => {
  test('warns, naming the flags that would run it, unless one of them is given', () => {
    expect(typescriptWarning('/srv/app.ts', [], false, 'v22.12.0')).toMatch(/^Node v22.12.0 does not run TypeScript by itself .*--experimental-strip-types .*--import=tsx$/);
    expect(typescriptWarning('/srv/app.mts', [], false, 'v22.12.0')).toBeDefined();
    expect(typescriptWarning('/srv/app.ts', [], true, 'v24.1.0')).toBeUndefined();
    expect(typescriptWarning('/srv/app.js', [], false, 'v22.12.0')).toBeUndefined();
    expect(typescriptWarning('/srv/app.ts', ['--experimental-strip-types'], false, 'v22.12.0')).toBeUndefined();
    expect(typescriptWarning('/srv/app.ts', ['--import=tsx'], false, 'v22.12.0')).toBeUndefined();
  });
});
