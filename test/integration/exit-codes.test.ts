/**
 * The exit-code contract (issue 15 item 7): a user's mistake is one line on stderr and a
 * documented code — never exit 1 with a stack, never silently ignored.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/errors';
import { FIXTURES, Sockrun, cleanup } from '../helpers/sockrun';

const hello = path.join(FIXTURES, 'hello.js');
/** A path below a regular file: no one, root included, can create a directory there (ENOTDIR). */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-exit-'));
const nowhere = path.join(dir, 'a-file', 'sub');
fs.writeFileSync(path.join(dir, 'a-file'), '');
afterEach(cleanup);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs sockrun; resolves with how it exited, or 'still running' after 10 s. */
async function outcome(args: string[]): Promise<{ code: number | null | 'still running'; stderr: string }> {
  const s = new Sockrun(args);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([s.exited.then((e) => e.code), new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), 10_000)))]);
  clearTimeout(timer);
  return { code, stderr: s.stderr };
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

test.each([
  ['a --pid-file that cannot be written', ExitCode.PATH_UNUSABLE, ['-l', '127.0.0.1:0', '--pid-file', `${nowhere}/app.pid`],
    `--pid-file ${nowhere}/app.pid: cannot write it (ENOTDIR)`],
  ['a unix socket in a directory that cannot be created', ExitCode.BIND_FAILED, ['-l', `unix:${nowhere}/app.sock`],
    `--listen unix:${nowhere}/app.sock: cannot create the directory ${nowhere} (ENOTDIR)`],
  ['a --control-socket that cannot be created', ExitCode.PATH_UNUSABLE, ['-l', '127.0.0.1:0', '--control-socket', `${nowhere}/ctl.sock`],
    `--control-socket ${nowhere}/ctl.sock: cannot create the directory ${nowhere} (ENOTDIR)`],
  ['--hang-timeout shorter than --ping-interval', ExitCode.USAGE, ['-l', '127.0.0.1:0', '--hang-timeout', '500ms', '--ping-interval', '1s'],
    '--hang-timeout 500ms must be longer than --ping-interval 1s (0 turns hang detection off)'],
  ['--workers 0 with --admin', ExitCode.USAGE, ['-l', '127.0.0.1:0', '--workers', '0', '--admin', '127.0.0.1:0'],
    "--admin needs workers: with --workers 0 the app runs in sockrun's own process, without an admin port (use --workers 1)"],
])('%s: one line, exit %s', async (_what, code, args, message) => {
  const r = await outcome([...(args as string[]), hello]);
  expect(r.code).toBe(code);
  expect(r.stderr).toMatch(new RegExp(`^sockrun: ${esc(message as string)}\n$`));
});
