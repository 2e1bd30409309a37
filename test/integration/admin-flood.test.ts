/**
 * The admin port under a /metrics flood (issue 15.6): an app with 20,000 series (a 1.2 MB
 * exposition), 300 clients that send GET /metrics and never read, and 20 scrapers that scrape as
 * fast as they can. Throughout, every /livez and /readyz answers 200 within a second (Kubernetes'
 * default probe timeout) and the master grows by less than 250 MiB. Both are functional limits
 * (what a probe or an OOM killer enforces), with wide margins: before the fix, probes timed out
 * for ~20 s and the master grew by ~800 MB.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sample } from '../helpers/prometheus';
import { FIXTURES, Sockrun, cleanup, freePort, request, sleep } from '../helpers/sockrun';

const BIG_APP = path.join(FIXTURES, 'metrics', 'big.js');
const FLOOD = path.join(FIXTURES, 'metrics', 'flood.js');
const FLOOD_SECONDS = 12;
const PROBE_TIMEOUT_MS = 1000;
const MiB = 1024 * 1024;

afterEach(cleanup);

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

interface Probe { path: string; status: number; ms: number; error?: string }

/** One probe with the kubelet's default 1 s timeout: a late answer counts as a failure. */
async function probe(port: number, p: string): Promise<Probe> {
  const started = Date.now();
  try {
    const r = await request({ port }, p, { timeout: PROBE_TIMEOUT_MS });
    return { path: p, status: r.status, ms: Date.now() - started };
  } catch (err) {
    return { path: p, status: 0, ms: Date.now() - started, error: (err as Error).message };
  }
}

describe('the admin port under a /metrics flood', () => {
  test('300 clients that never read and 20 fast scrapers: every probe is 200 within a second, the master grows < 250 MiB', async () => {
    const port = await freePort();
    const admin = await freePort();
    const s = new Sockrun(['-w', '2', '-l', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, BIG_APP]);
    await s.ready(60_000);
    // Warm: both workers' metrics have reached the master and a scrape has been rendered.
    let body = '';
    for (let i = 0; i < 60 && sample(body, 'app_flood_workers') !== 2; i++) {
      await sleep(500);
      body = (await request({ port: admin }, '/metrics', { timeout: 30_000 })).body;
    }
    expect(sample(body, 'app_flood_workers')).toBe(2);
    expect(body.length).toBeGreaterThan(1_000_000);
    const rssBefore = rssBytes(s.pid);

    const flood = spawn(process.execPath, [FLOOD], {
      env: { ...process.env, ADMIN_PORT: String(admin), FLOOD_SECONDS: String(FLOOD_SECONDS), CLIENTS: '300', SCRAPERS: '20' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let floodOut = '';
    flood.stdout!.setEncoding('utf8').on('data', (d: string) => (floodOut += d));
    const floodDone = new Promise<void>((resolve) => flood.once('exit', () => resolve()));

    const probes: Probe[] = [];
    let rssMax = rssBefore;
    const until = Date.now() + FLOOD_SECONDS * 1000;
    try {
      while (Date.now() < until) {
        probes.push(await probe(admin, '/livez'), await probe(admin, '/readyz'));
        rssMax = Math.max(rssMax, rssBytes(s.pid));
        await sleep(100);
      }
      await floodDone;
    } finally {
      if (flood.exitCode === null) flood.kill('SIGKILL');
    }
    const failed = probes.filter((p) => p.status !== 200 || p.ms >= PROBE_TIMEOUT_MS);
    const ms = probes.map((p) => p.ms).sort((a, b) => a - b);
    const growthMiB = (rssMax - rssBefore) / MiB;
    console.log(`/metrics flood (${(body.length / 1e6).toFixed(2)} MB exposition, ${FLOOD_SECONDS} s): ${probes.length} probes, ${failed.length} failed or late; `
      + `latency p50 ${ms[Math.floor(ms.length / 2)]} ms, max ${ms[ms.length - 1]} ms; master RSS ${(rssBefore / MiB).toFixed(0)} → max ${(rssMax / MiB).toFixed(0)} MiB `
      + `(+${growthMiB.toFixed(0)}); flood: ${floodOut.trim()}`);
    expect(probes.length).toBeGreaterThan(20);
    expect(failed).toEqual([]);
    expect(growthMiB).toBeLessThan(250);
    // The master is still itself afterwards: a scrape answers in full.
    expect((await request({ port: admin }, '/metrics', { timeout: 30_000 })).status).toBe(200);
  }, 120_000);
});
