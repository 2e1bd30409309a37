import { parseRunArgs } from '../../src/cli/argv';
import { parseWithYargs } from '../../src/cli/usage';
import { resolveConfiguration } from '../../src/config/resolve';
import type { RunArgs } from '../../src/cli/argv';

/** What the master would run with: the two readers must agree on this, not on their raw shapes. */
const resolved = (r: RunArgs) => ({ config: r.config, ...resolveConfiguration(r.options, {}, {}, r.app ?? '-', r.appArgs) });

describe('the command line without yargs', () => {
  test.each([
    [['app.js']],
    [['-w', '2', '-l', '127.0.0.1:8080', 'app.js']],
    [['--workers', '4', '--listen', '8080', '--listen', 'admin=unix:/run/a.sock', 'app.js']],
    [['--workers=3', '--listen=http=127.0.0.1:80', 'app.js']],
    [['--fd', '3:http', '--fd', '4', '--drain-delay', '10s', '--graceful-timeout', '1m', 'app.js']],
    [['--log-level', 'warn', '--log-format', 'json', '--pid-file', '/run/a.pid', 'app.js']],
    [['--admin', '127.0.0.1:9091', '--ecv-on-app-port', '--no-ecv-control', '--min-ready', '1', 'app.js']],
    [['--recycle-memory', '512M', '--recycle-age', '6h', '--metrics-interval', '5s', 'app.js']],
    [['--config', 'c.json', 'app.js']],
    [['-w', '2', 'app.js', '--port', '9', '-w', '3']],
    [['-w', '2', 'app.js', '--', '--port', '9']],
    [['-w', '2', '--', 'app.js', '--port', '9']],
    [['app.js', 'x', '--', 'y']],
    [['app.js', '007', '1e3', '0x10']],
    [[]],
  ])('%j reads as yargs reads it', async (args) => {
    const quick = parseRunArgs(args);
    const full = await parseWithYargs(args);
    expect(quick).toBeDefined();
    expect(full).not.toBe('done');
    expect({ app: quick!.app, appArgs: quick!.appArgs }).toEqual({ app: (full as RunArgs).app, appArgs: (full as RunArgs).appArgs });
    if (quick!.app) expect(resolved(quick!)).toEqual(resolved(full as RunArgs));
  });

  test.each([
    [['--help']], [['-h']], [['--version']], [['--bogus', 'app.js']], [['-x', 'app.js']], [['-w2', 'app.js']],
    [['--workers']], [['--workers', '--listen', '8080', 'app.js']], [['--log-level', 'loud', 'app.js']],
    [['--ecv-control', 'false', 'app.js']], [['--ecv-control', 'true', 'app.js']], [['--ecv-control=false', 'app.js']], [['-w', '2', '-w', '3', 'app.js']],
    [['--listen=', 'app.js']], [['--config', 'a', '--config', 'b', 'app.js']],
  ])('%j is left to yargs', (args) => {
    expect(parseRunArgs(args)).toBeUndefined();
  });
});
