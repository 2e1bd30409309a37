import { cgroupCpuQuota, parseCpuMax, usableCpus } from '../../src/master/cpus';

const files = (map: Record<string, string>) => (p: string) => map[p];

describe('usable CPUs', () => {
  test('cgroup v2 cpu.max', () => {
    expect(parseCpuMax('max 100000')).toBeUndefined();
    expect(parseCpuMax('150000 100000')).toBe(1.5);
    const read = files({ '/proc/self/cgroup': '0::/kubepods/pod1/c1\n', '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': '150000 100000' });
    expect(usableCpus(read, 8)).toBe(2);
  });

  test('the most restrictive ancestor wins', () => {
    const read = files({
      '/proc/self/cgroup': '0::/a/b\n',
      '/sys/fs/cgroup/a/b/cpu.max': 'max 100000',
      '/sys/fs/cgroup/a/cpu.max': '100000 100000',
    });
    expect(cgroupCpuQuota(read)).toBe(1);
    expect(usableCpus(read, 16)).toBe(1);
  });

  test('cgroup v1 cfs quota; -1 means none', () => {
    const v1 = (quota: string) => files({
      '/proc/self/cgroup': '12:cpu,cpuacct:/docker/abc\n0::/\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000',
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': quota,
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000',
    });
    expect(usableCpus(v1('300000'), 8)).toBe(3);
    expect(usableCpus(v1('-1'), 8)).toBe(8);
  });

  test('never more than the parallelism (affinity), never less than one', () => {
    const read = files({ '/proc/self/cgroup': '0::/x\n', '/sys/fs/cgroup/x/cpu.max': '800000 100000' });
    expect(usableCpus(read, 2)).toBe(2);
    expect(usableCpus(files({ '/proc/self/cgroup': '0::/x\n', '/sys/fs/cgroup/x/cpu.max': '10000 100000' }), 4)).toBe(1);
    expect(usableCpus(() => undefined, 3)).toBe(3);
  });
});
