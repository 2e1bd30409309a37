/**
 * cli/parent-watch.ts: when sockrun drains because the process that started it went away —
 * only under a package manager's script runner, never for a deliberate detach.
 */
import { parentWatchPlan, type ProcessFacts } from '../../src/cli/parent-watch';

const npmStart = { npm_lifecycle_event: 'start', npm_command: 'start', npm_config_user_agent: 'npm/11.19.1 node/v24.22.3 linux x64' };
const facts = (over: Partial<ProcessFacts>): ProcessFacts => ({ pid: 500, ppid: 499, sid: 100, env: npmStart, ...over });

describe('watching the parent', () => {
  test.each<[string, Partial<ProcessFacts>, ReturnType<typeof parentWatchPlan>]>([
    ['npm start', {}, { watch: true, parent: 499, startedBy: 'npm start' }],
    ['npm run serve', { env: { npm_lifecycle_event: 'serve', npm_command: 'run' } }, { watch: true, parent: 499, startedBy: 'npm run serve' }],
    ['npx sockrun', { env: { npm_lifecycle_event: 'npx', npm_command: 'exec' } }, { watch: true, parent: 499, startedBy: 'npx' }],
    ['yarn start', { env: { npm_lifecycle_event: 'start', npm_config_user_agent: 'yarn/1.22.22 npm/? node/v24.22.3 linux x64' } }, { watch: true, parent: 499, startedBy: 'yarn start' }],
    ['pnpm start', { env: { npm_lifecycle_event: 'start', npm_config_user_agent: 'pnpm/10.0.0 npm/? node/v24.22.3 linux x64' } }, { watch: true, parent: 499, startedBy: 'pnpm start' }],
  ])('%s: drains when that parent goes away', (_what, over, plan) => {
    expect(parentWatchPlan(facts(over))).toEqual(plan);
  });

  test.each<[string, Partial<ProcessFacts>, RegExp]>([
    ['a shell, a supervisor, a deploy script (nohup sockrun &)', { env: {} }, /not started by a package manager/],
    ['PID 1 in a container', { pid: 1, ppid: 0 }, /PID 1/],
    ['started by systemd (PID 1), or already orphaned', { ppid: 1 }, /the parent is init/],
    ['detached on purpose with setsid', { sid: 500 }, /session leader/],
  ])('never for %s', (_what, over, reason) => {
    const plan = parentWatchPlan(facts(over));
    expect(plan.watch).toBe(false);
    expect(plan).toMatchObject({ reason: expect.stringMatching(reason) });
  });

  test('a /proc that cannot tell the session does not count as a session leader', () => {
    expect(parentWatchPlan(facts({ sid: undefined })).watch).toBe(true);
  });
});
