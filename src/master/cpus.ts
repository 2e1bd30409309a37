import fs = require('node:fs');
import os = require('node:os');

/** Reads a file or returns undefined: the only I/O here, replaced in unit tests. */
export type FileReader = (path: string) => string | undefined;

const readFile: FileReader = (p) => {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * The CPUs this process may really use: the smallest CFS quota on its cgroup path (v2
 * `cpu.max`, v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`), rounded up, never more than
 * `os.availableParallelism()` (which already honours the affinity mask), never less than 1.
 */
export function usableCpus(read: FileReader = readFile, parallelism = os.availableParallelism()): number {
  const quota = cgroupCpuQuota(read);
  const cpus = quota === undefined ? parallelism : Math.min(parallelism, Math.ceil(quota));
  return Math.max(1, cpus);
}

/** The CPU quota (in CPUs, e.g. 1.5) of the most restrictive cgroup on our path, if any. */
export function cgroupCpuQuota(read: FileReader): number | undefined {
  const self = read('/proc/self/cgroup');
  if (!self) return undefined;
  let best: number | undefined;
  const consider = (q: number | undefined) => {
    if (q !== undefined && q > 0 && (best === undefined || q < best)) best = q;
  };
  for (const line of self.split('\n')) {
    const [, controllers, cgPath] = line.split(':');
    if (cgPath === undefined) continue;
    if (controllers === '') {
      for (const dir of ancestors(cgPath)) consider(parseCpuMax(read(`/sys/fs/cgroup${dir}/cpu.max`)));
    } else if (controllers.split(',').includes('cpu')) {
      const mount = ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu'].find((m) => read(`${m}/cpu.cfs_period_us`) !== undefined);
      if (!mount) continue;
      for (const dir of ancestors(cgPath)) {
        consider(parseV1(read(`${mount}${dir}/cpu.cfs_quota_us`), read(`${mount}${dir}/cpu.cfs_period_us`)));
      }
    }
  }
  return best;
}

/** `max 100000` → undefined; `150000 100000` → 1.5. */
export function parseCpuMax(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === 'max' || !period) return undefined;
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : undefined;
}

function parseV1(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota?.trim());
  const p = Number(period?.trim());
  return q > 0 && p > 0 ? q / p : undefined;
}

/** `/a/b` → [`/a/b`, `/a`, ``]: a limit on any ancestor applies too. */
function ancestors(p: string): string[] {
  const parts = p.split('/').filter(Boolean);
  return parts.map((_, i) => '/' + parts.slice(0, parts.length - i).join('/')).concat(['']);
}
