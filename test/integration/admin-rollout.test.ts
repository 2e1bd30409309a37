/**
 * A rollout as Kubernetes does it, simulated: a "kubelet" probes each instance's /readyz every
 * second, an "endpoints controller" routes to the instances that passed, with 500 ms of
 * propagation lag, and a client sends requests only to routable instances. Two sockrun
 * instances are rolled one after the other (SIGTERM, --drain-delay 3s > probe period + lag,
 * start the replacement, wait until it is routable, next). Not one request may fail.
 *
 * The control case runs the same rollout without a drain delay and must see failures: the
 * test can tell a broken rollout from a good one.
 */
import * as http from 'node:http';
import { ADMIN_APP } from '../helpers/admin-helpers';
import { Sockrun, cleanup, eventually, freePort, sleep } from '../helpers/sockrun';

afterEach(cleanup);

const PROBE_PERIOD_MS = 1000;
const PROPAGATION_LAG_MS = 500;

interface Instance {
  name: string;
  s: Sockrun;
  appPort: number;
  adminPort: number;
  agent: http.Agent;
}

async function launch(name: string, drainDelay: string, keepAlive: boolean): Promise<Instance> {
  const appPort = await freePort();
  const adminPort = await freePort();
  const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${appPort}`, '--admin', `127.0.0.1:${adminPort}`, '--drain-delay', drainDelay, ADMIN_APP]);
  return { name, s, appPort, adminPort, agent: new http.Agent({ keepAlive, maxSockets: 8 }) };
}

function get(port: number, path: string, timeoutMs: number, agent: http.Agent | false = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The kubelet (readiness probe: period 1 s, timeout 1 s, thresholds 1) and the endpoints controller (lag). */
class Endpoints {
  readonly routable = new Set<Instance>();
  readonly log: string[] = [];
  private readonly timers = new Map<Instance, NodeJS.Timeout>();
  private readonly t0 = Date.now();

  watch(inst: Instance): void {
    const probe = async () => {
      let ok = false;
      try {
        ok = (await get(inst.adminPort, '/readyz', PROBE_PERIOD_MS)).status === 200;
      } catch {
        ok = false;
      }
      setTimeout(() => {
        if (ok === this.routable.has(inst) || !this.timers.has(inst)) return;
        if (ok) this.routable.add(inst);
        else this.routable.delete(inst);
        this.log.push(`${((Date.now() - this.t0) / 1000).toFixed(1)}s ${inst.name} ${ok ? 'added' : 'removed'}`);
      }, PROPAGATION_LAG_MS);
    };
    this.timers.set(inst, setInterval(() => void probe(), PROBE_PERIOD_MS));
    void probe();
  }

  /** The pod is gone: its endpoint too. */
  forget(inst: Instance): void {
    clearInterval(this.timers.get(inst));
    this.timers.delete(inst);
    this.routable.delete(inst);
  }

  stop(): void {
    for (const inst of [...this.timers.keys()]) this.forget(inst);
  }

  async untilRoutable(inst: Instance): Promise<void> {
    await eventually(() => this.routable.has(inst), 20_000, `${inst.name} routable`);
  }
}

/** Clients that send requests only to routable instances, counting every outcome. */
function startClients(endpoints: Endpoints, concurrency: number) {
  const result = { ok: 0, failed: 0, noEndpoint: 0, errors: {} as Record<string, number>, perInstance: {} as Record<string, number> };
  let running = true;
  const loop = async () => {
    while (running) {
      const ready = [...endpoints.routable];
      if (ready.length === 0) {
        result.noEndpoint++;
        await sleep(20);
        continue;
      }
      const inst = ready[Math.floor(Math.random() * ready.length)];
      try {
        const r = await get(inst.appPort, '/', 5000, inst.agent);
        if (r.status === 200) {
          result.ok++;
          result.perInstance[inst.name] = (result.perInstance[inst.name] ?? 0) + 1;
        } else {
          result.failed++;
          result.errors[`${inst.name} http ${r.status}`] = (result.errors[`${inst.name} http ${r.status}`] ?? 0) + 1;
        }
      } catch (err) {
        result.failed++;
        const key = `${inst.name} ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
        result.errors[key] = (result.errors[key] ?? 0) + 1;
        await sleep(5);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return { result, stop: async () => { running = false; await Promise.all(loops); return result; } };
}

/** Rolls A then B the way a Deployment with maxUnavailable 0 would, and returns what the clients saw. */
async function rollout(drainDelay: string, keepAlive: boolean) {
  const endpoints = new Endpoints();
  const a = await launch('A', drainDelay, keepAlive);
  const b = await launch('B', drainDelay, keepAlive);
  endpoints.watch(a);
  endpoints.watch(b);
  await Promise.all([endpoints.untilRoutable(a), endpoints.untilRoutable(b)]);
  const clients = startClients(endpoints, 4);
  await sleep(1500);

  const replacements: Instance[] = [];
  for (const [old, name] of [[a, "A'"], [b, "B'"]] as const) {
    old.s.signal('SIGTERM');
    void old.s.exited.then(() => endpoints.forget(old));
    const next = await launch(name, drainDelay, keepAlive);
    replacements.push(next);
    endpoints.watch(next);
    await endpoints.untilRoutable(next);
    // Like the Deployment controller, move on only once the old pod is gone as well.
    const { code } = await old.s.exited;
    expect(code).toBe(0);
  }
  await sleep(1500);
  const result = await clients.stop();
  endpoints.stop();
  for (const inst of [a, b, ...replacements]) inst.agent.destroy();
  return { result, timeline: endpoints.log };
}

describe('rolling update behind a simulated kubelet and endpoints controller', () => {
  test.each([
    ['a new connection per request', false],
    ['keep-alive connections', true],
  ])('rolling two instances with --drain-delay 3s fails zero requests (%s)', async (_shape, keepAlive) => {
    const { result, timeline } = await rollout('3s', keepAlive);
    console.log(`rollout (${_shape}): ${result.ok} ok, ${result.failed} failed ${JSON.stringify(result.errors)}, ${result.noEndpoint} waits for an endpoint; per instance ${JSON.stringify(result.perInstance)}; endpoints: ${timeline.join(', ')}`);
    expect(result.failed).toBe(0);
    expect(result.noEndpoint).toBe(0);
    expect(result.ok).toBeGreaterThan(200);
    for (const name of ['A', 'B', "A'", "B'"]) expect(result.perInstance[name]).toBeGreaterThan(0);
  }, 90_000);

  test('control: the same rollout without a drain delay fails requests (traffic still routed to a draining instance)', async () => {
    const { result } = await rollout('0s', false);
    console.log(`rollout without drain delay: ${result.ok} ok, ${result.failed} failed ${JSON.stringify(result.errors)}`);
    expect(result.failed).toBeGreaterThan(0);
  }, 90_000);
});
