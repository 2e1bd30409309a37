/**
 * npm in front of sockrun, with a real npm: `npm start` and `npx sockrun` run sockrun under a
 * `sh -c` that dies with npm on SIGTERM, without passing the signal on. sockrun notices its
 * parent is gone and drains; a parent that is not a package manager may go away on purpose
 * (a deploy script backgrounding sockrun) and sockrun keeps serving.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, FIXTURES, eventually, freePort, isAlive, killQuietly, request, sleep } from '../helpers/sockrun';

const hello = path.join(FIXTURES, 'hello.js');
const started: number[] = [];

afterEach(() => {
  // Only what these tests started, by pid: masters (their workers exit with them).
  for (const pid of started.splice(0)) killQuietly(pid);
});

/** A throwaway project whose package.json runs sockrun, and whose node_modules/.bin has it. */
function project(start: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-npm-'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, scripts: { start } }));
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  fs.symlinkSync(CLI, path.join(dir, 'node_modules', '.bin', 'sockrun'));
  return dir;
}

/** npm (or npx) in its own process group, offline, with its output (and sockrun's) collected. */
function runNpm(args: string[], cwd: string): { child: ChildProcess; output: () => string; closed: Promise<void> } {
  // `npm` is a script run by whichever node is first in PATH: the line under test.
  const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_offline: 'true' };
  const child = spawn('npm', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  // The pipes close when the last writer is gone: npm, its shell, sockrun and every worker.
  const closed = new Promise<void>((resolve) => child.stdout!.once('close', () => resolve()));
  return { child, output: () => out, closed };
}

/** The master's pid from its --pid-file; on a timeout, says what the processes printed. */
const readPid = (file: string, output: () => string) =>
  eventually(() => (fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8')) : 0), 20_000, `pid file ${file}`).catch((err: Error) => {
    throw new Error(`${err.message}; output:\n${output()}`);
  });

/** sockrun with 2 workers started through npm (`npm <npmArgs>` in a project whose start script is `script`), ready. */
async function underNpm(npmArgs: (cli: string) => string[], script: (cli: string) => string): Promise<{ npm: ReturnType<typeof runNpm>; port: number; master: number }> {
  const port = await freePort();
  const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-npm-pid-')), 'master.pid');
  const cli = `--workers 2 --listen 127.0.0.1:${port} --pid-file ${pidFile} --log-format json ${hello}`;
  const npm = runNpm(npmArgs(cli), project(script(cli)));
  const master = await readPid(pidFile, npm.output);
  started.push(master);
  await eventually(() => npm.output().includes('"msg":"ready"'), 20_000, 'ready');
  return { npm, port, master };
}

describe('npm in front of sockrun', () => {
  test.each([
    ['npm start', (_cli: string) => ['start'], (cli: string) => `sockrun ${cli}`],
    ['npx sockrun', (cli: string) => ['exec', '--', 'sockrun', ...cli.split(' ')], (_cli: string) => 'exit 0'],
  ])('%s, then SIGTERM to npm: sockrun notices its parent is gone, drains and exits 0', async (_what, npmArgs, script) => {
    const { npm, port, master } = await underNpm(npmArgs, script);
    expect((await request({ port }, '/')).status).toBe(200);
    expect(npm.output()).toMatch(/started by (npm start|npx): sockrun drains if its parent/);

    process.kill(npm.child.pid!, 'SIGTERM'); // what a process manager stopping "the app" does
    await npm.closed; // sockrun and its workers are gone too
    // A process closes its descriptors before it is a zombie: the pipe can close an instant
    // before /proc shows the master gone (seen on a loaded CI run).
    await eventually(() => !isAlive(master), 10_000, 'the master gone');
    const log = npm.output();
    expect(log).toMatch(/the process that started sockrun \((npm start|npx), pid \d+\) is gone; nothing would stop sockrun any more: draining as on SIGTERM/);
    expect(log).toMatch(/"msg":"draining workers"/);
    expect(log).toMatch(/"exitCode":0,"msg":"stopped"/);
  }, 60_000);

  test.each([
    // npm passes SIGTERM on to its child, which `exec` made sockrun itself.
    ['"start": "exec sockrun …", SIGTERM to npm', (cli: string) => `exec sockrun ${cli}`, (npmPid: number) => process.kill(npmPid, 'SIGTERM')],
    // A terminal's Ctrl-C, `timeout`, a runtime killing the group: npm, its shell and sockrun all
    // get it, and the shell dies at once — "parent gone" must not add a second SIGTERM (= stop now).
    ['SIGTERM to the whole process group', (cli: string) => `sockrun ${cli}`, (npmPid: number) => process.kill(-npmPid, 'SIGTERM')],
  ])('%s: sockrun drains once, in-flight requests complete', async (_what, script, signal) => {
    const { npm, port } = await underNpm(() => ['start'], script);
    const slow = request({ port }, '/slow?ms=2500');
    await sleep(300);
    signal(npm.child.pid!);
    expect((await slow).status).toBe(200);
    await npm.closed;
    const log = npm.output();
    expect(log.match(/"msg":"received SIGTERM"/g)).toHaveLength(1);
    expect(log).not.toMatch(/is gone/);
    expect(log).toMatch(/"exitCode":0,"msg":"stopped"/);
  }, 60_000);

  test('a deploy script that backgrounds sockrun and exits (not a package manager): sockrun keeps serving', async () => {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockrun-nohup-'));
    const pidFile = path.join(dir, 'master.pid');
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k]; // jest itself may run under npm test
    const script = `nohup ${process.execPath} ${CLI} --workers 1 --listen 127.0.0.1:${port} --pid-file ${pidFile} ${hello} > ${dir}/log 2>&1 &\nsleep 1\nexit 0`;
    const sh = spawn('sh', ['-c', script], { env, stdio: 'ignore' });
    const shExited = new Promise((resolve) => sh.once('exit', resolve));
    const master = await readPid(pidFile, () => (fs.existsSync(`${dir}/log`) ? fs.readFileSync(`${dir}/log`, 'utf8') : ''));
    started.push(master);
    await shExited;
    await sleep(2000); // four parent checks
    expect(isAlive(master)).toBe(true);
    expect((await request({ port }, '/')).status).toBe(200);
    expect(fs.readFileSync(`${dir}/log`, 'utf8')).not.toMatch(/is gone|draining/);
  }, 30_000);
});
