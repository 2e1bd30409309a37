/**
 * Delegation between real processes: workers hand jobs to the master that runs the same script
 * (test/fixtures/cluster2/delegate-app.js), over the real IPC channel.
 */
import { ExitCode } from '../../src/errors';
import { freePort, request } from '../helpers/sockrun';
import { App, allGone, cleanupApps, underCli } from '../fixtures/cluster2/harness';

afterEach(cleanupApps);
jest.setTimeout(30_000);

interface Answer {
  ok: boolean;
  value?: Record<string, unknown>;
  code?: string;
  message?: string;
  pid: number;
  ms: number;
}

async function start(workers = 2): Promise<{ app: App; port: number; ask: (path: string) => Promise<Answer> }> {
  const port = await freePort();
  const app = new App('delegate-app.js', { env: { SOCKRUN_LISTEN: `127.0.0.1:${port}`, WORKERS: String(workers) } });
  await app.ready();
  await app.until('every worker subscribed', () => said(app, 'subscribed').length === workers);
  return { app, port, ask: async (p) => JSON.parse((await request({ port }, p)).body) as Answer };
}

function said(app: App, event: string): Record<string, unknown>[] {
  return app.json.filter((l) => l.event === event) as Record<string, unknown>[];
}

async function stop(app: App): Promise<void> {
  const workers = app.workerPids();
  app.signal('SIGTERM');
  expect((await app.exited).code).toBe(ExitCode.OK);
  expect(await allGone(workers)).toBe(true);
}

describe('delegate(): a worker hands a job to the master', () => {
  test('a request is answered by the master\'s handler, with who asked', async () => {
    const { app, ask } = await start();
    const r = await ask('/config?name=db');
    expect(r).toEqual({ ok: true, value: { name: 'db', url: 'db://db', answeredBy: app.pid, asker: r.pid }, pid: r.pid, ms: expect.any(Number) });
    expect(app.workerPids()).toContain(r.pid);
    await stop(app);
  });

  test('a request that outlives its timeout rejects with SOCKRUN_ERR_DELEGATE_TIMEOUT, and the handler is told to give up', async () => {
    const { app, ask } = await start();
    const r = await ask('/slow?ms=5000&timeout=300');
    // The worker's and the master's timers both run 300 ms; whichever fires first answers (CI saw the
    // master's, twice, on Node 22): either is the same timeout.
    expect(r).toMatchObject({ ok: false, code: 'SOCKRUN_ERR_DELEGATE_TIMEOUT', message: expect.stringMatching(/^delegate "slow": no answer (from the master )?within 300 ms$/) });
    expect(r.ms).toBeGreaterThanOrEqual(290);
    expect(r.ms).toBeLessThan(3000);
    await app.until('the handler aborted', () => said(app, 'aborted').some((a) => a.kind === 'slow' && a.reason === 'timeout' && a.worker === r.pid));
    await stop(app);
  });

  test('a kind nobody handles fails at once with SOCKRUN_ERR_DELEGATE_NO_HANDLER, naming it', async () => {
    const { app, ask } = await start();
    const r = await ask('/missing');
    expect(r).toMatchObject({
      ok: false,
      code: 'SOCKRUN_ERR_DELEGATE_NO_HANDLER',
      message: 'delegate "nobody-handles-this": no handler in the master (register one with cluster.handle("nobody-handles-this", fn))',
    });
    expect(r.ms).toBeLessThan(2000); // not the 5 s timeout
    await stop(app);
  });

  test('a handler that throws fails the request with SOCKRUN_ERR_DELEGATE_FAILED and its message', async () => {
    const { app, ask } = await start();
    expect(await ask('/fail')).toMatchObject({ ok: false, code: 'SOCKRUN_ERR_DELEGATE_FAILED', message: 'the config server is down' });
    expect((await ask('/config?name=still-up')).ok).toBe(true);
    await stop(app);
  });

  test('a notification the master publishes reaches every worker that subscribed, and a new worker starts from it', async () => {
    const { app, port } = await start(3);
    expect(said(app, 'subscribed').map((s) => s.value)).toEqual([{ version: 1 }, { version: 1 }, { version: 1 }]);
    expect((await request({ port }, '/set-flags?version=7')).body).toBe('told\n');
    await app.until('all three notified', () => said(app, 'notified').length === 3);
    expect(said(app, 'published')).toEqual([expect.objectContaining({ reached: 3, value: { version: 7 } })]);
    expect(new Set(said(app, 'notified').map((n) => n.pid))).toEqual(new Set(app.workerPids()));
    expect(said(app, 'notified').map((n) => n.value)).toEqual([{ version: 7 }, { version: 7 }, { version: 7 }]);

    // A replacement subscribes afresh; a dead worker is no longer published to.
    const victim = app.workerPids()[0];
    process.kill(victim, 'SIGKILL');
    await app.until('the replacement subscribed', () => said(app, 'subscribed').length === 4);
    expect(said(app, 'subscribed')[3].value).toEqual({ version: 7 });
    await request({ port }, '/set-flags?version=8');
    await app.until('published again', () => said(app, 'published').length === 2);
    expect(said(app, 'published')[1]).toMatchObject({ reached: 3 });
    await app.until('all three notified again', () => said(app, 'notified').length === 6);
    expect(said(app, 'notified').slice(3).map((n) => n.pid)).not.toContain(victim);
    await stop(app);
  });

  test('a worker that dies with a request pending: the handler sees the abort, its late answer goes nowhere, the master serves on', async () => {
    const { app, port, ask } = await start();
    await request({ port }, '/die-pending?after=400').catch(() => undefined); // the worker exits before answering
    await app.until('the master got the request', () => said(app, 'hang-received').length === 1);
    const dying = said(app, 'asked-then-dying')[0].pid as number;
    expect(said(app, 'hang-received')[0].worker).toBe(dying);
    await app.until('the abort', () => said(app, 'aborted').some((a) => a.kind === 'hang'));
    expect(said(app, 'aborted').find((a) => a.kind === 'hang')).toMatchObject({ reason: `worker ${dying} exited`, worker: dying });
    expect(said(app, 'died')).toEqual([expect.objectContaining({ worker: dying, exit: expect.objectContaining({ code: 3, reason: 'crash' }) })]);
    // The handler's answer comes 1.5 s later, for a worker that is gone: nothing breaks.
    await app.until('the late answer', () => said(app, 'hang-answered').length === 1);
    await app.until('the replacement subscribed', () => said(app, 'subscribed').length === 3);
    for (let i = 0; i < 6; i++) expect((await ask('/config?name=after')).ok).toBe(true);
    expect(app.err).toBe('');
    expect(app.logs('internal error while handling an event')).toEqual([]);
    await stop(app);
  });
});

describe('cluster2\'s own message shape keeps working', () => {
  test('{type: "delegate", expect, matches} answered by a cluster2-style event handler: only the matching answer counts', async () => {
    const { app, ask } = await start();
    const r = await ask('/legacy?name=a');
    // The handler first emitted an answer for someone else (name "someone-else"): ignored.
    expect(r).toMatchObject({ ok: true, value: { type: 'config-read', name: 'a', value: 'legacy:a', answeredBy: app.pid } });
    await stop(app);
  });

  test('the same message answered by a typed handler (handle()): the answer carries type = expect and the matched fields', async () => {
    const { app, ask } = await start();
    const r = await ask('/legacy-typed?name=b');
    expect(r.value).toEqual({ type: 'config-read', name: 'b', url: 'db://b', answeredBy: app.pid, asker: r.pid });
    await stop(app);
  });

  test('no handler, and a timeout (cluster2 `timeOut`): the request comes back with `error` set', async () => {
    const { app, ask } = await start();
    const missing = await ask('/legacy-missing');
    expect(missing.value).toMatchObject({ type: 'nobody-answer', name: 'x', errorCode: 'SOCKRUN_ERR_DELEGATE_NO_HANDLER' });
    expect(missing.value!.error).toMatch(/no handler in the master/);
    const late = await ask('/legacy-timeout');
    expect(late.value).toMatchObject({ type: 'config-read', name: 'never', error: 'timeout', errorCode: 'SOCKRUN_ERR_DELEGATE_TIMEOUT' });
    expect(late.ms).toBeGreaterThanOrEqual(290);
    expect(late.ms).toBeLessThan(3000);
    await stop(app);
  });
});

describe('under the sockrun CLI (no app code in the master, so no handlers)', () => {
  test('delegate() fails at once with SOCKRUN_ERR_DELEGATE_NO_HANDLER instead of waiting for its timeout', async () => {
    const port = await freePort();
    const app = underCli('delegate-app.js', ['-w', '1', '-l', `127.0.0.1:${port}`]);
    await app.ready();
    await app.until('the boot subscription refused', () => said(app, 'subscribe-failed').length === 1);
    expect(said(app, 'subscribe-failed')[0].code).toBe('SOCKRUN_ERR_DELEGATE_NO_HANDLER');
    const r = JSON.parse((await request({ port }, '/config?name=db')).body) as Answer;
    expect(r).toMatchObject({ ok: false, code: 'SOCKRUN_ERR_DELEGATE_NO_HANDLER' });
    expect(r.ms).toBeLessThan(2000); // the request's timeout is 5 s
    await stop(app);
  });
});
