import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCodes, ExitCode } from '../../src/errors';

describe('exit codes are documented', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Exit codes'), readme.indexOf('\n## ', readme.indexOf('## Exit codes') + 5));
  const rows = [...section.matchAll(/^\| (\d+) \| ([A-Z_]+) \|/gm)].map((m) => [m[2], Number(m[1])] as const);

  test('the README table lists exactly the codes in src/errors.ts', () => {
    expect(Object.fromEntries(rows)).toEqual(ExitCode);
  });

  test('codes are unique and every error code maps to a documented exit code', () => {
    const values = Object.values(ExitCode);
    expect(new Set(values).size).toBe(values.length);
    for (const exit of Object.values(ErrorCodes)) expect(values).toContain(exit);
  });
});
