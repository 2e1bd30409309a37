/**
 * The master's log holds lines until its first workers listen (log.ts: pino loads once they
 * do): they are written later, in order, with the time they were logged; nothing
 * is lost, and an error is never held.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'log');

function run(fixture: string): string[] {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(FIXTURES, fixture)], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return r.stdout.trim().split('\n');
}

const parse = (line: string) => JSON.parse(line) as { msg: string; time: string; level: number };

describe('the master log before pino is loaded', () => {
  test('holds debug and info lines until startLogging(), then writes them in order with the time they were logged', () => {
    const [mark, one, two, after, atOnce] = run('hold.ts');
    expect(mark).toBe('MARK before start');
    expect([parse(one).msg, parse(two).msg, after, parse(atOnce).msg]).toEqual(['held one', 'held two', 'MARK after start', 'written at once']);
    // Logged 30 ms apart, and stamped so, although written together.
    expect(Date.parse(parse(two).time) - Date.parse(parse(one).time)).toBeGreaterThanOrEqual(29);
    expect(parse(one)).toMatchObject({ n: 1, level: 30, name: 'sockrun' });
  });

  test('writes an error at once, after the lines held before it', () => {
    const lines = run('error-first.ts');
    expect(lines.map((l) => (l.startsWith('{') ? parse(l).msg : l))).toEqual(['held', 'fails now', 'MARK after the error']);
  });

  test('writes a warning at once, after the lines held before it', () => {
    const lines = run('warn-first.ts');
    expect(lines.map((l) => (l.startsWith('{') ? parse(l).msg : l))).toEqual(['held', 'warns now', 'MARK after the warning']);
  });
});
