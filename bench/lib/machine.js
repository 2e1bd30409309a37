'use strict';
/** A description of the machine and the software measured, written into every report. */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

function read(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function pkgVersion(root, name) {
  try {
    return JSON.parse(read(path.join(root, 'node_modules', name, 'package.json'))).version;
  } catch {
    return 'missing';
  }
}

function gitRev(root) {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function describe(root, wrkVersion) {
  const cpus = os.cpus();
  const osRelease = /PRETTY_NAME="([^"]+)"/.exec(read('/etc/os-release'));
  const cgroupMax = read('/sys/fs/cgroup/cpu.max').trim();
  return {
    date: new Date().toISOString(),
    cpuModel: cpus.length ? cpus[0].model.trim() : 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism ? os.availableParallelism() : cpus.length,
    cgroupCpuMax: cgroupMax || 'n/a',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: osRelease ? osRelease[1] : `${os.type()} ${os.release()}`,
    kernel: os.release(),
    node: process.version,
    // The release line (22, 24, 26) the figures belong to: sockrun supports several at once.
    nodeLine: `Node ${process.versions.node.split('.')[0]}`,
    wrk: wrkVersion,
    pm2: pkgVersion(root, 'pm2'),
    promClient: pkgVersion(root, 'prom-client'),
    sockrun: `${JSON.parse(read(path.join(root, 'package.json'))).version} (git ${gitRev(root)})`,
  };
}

function markdown(m) {
  return `${m.cpuModel}, ${m.cores} cores (availableParallelism ${m.availableParallelism}, cgroup cpu.max ${m.cgroupCpuMax}), `
    + `${m.memoryGiB} GiB, ${m.os}, Linux ${m.kernel}; Node ${m.node}, wrk ${m.wrk}, PM2 ${m.pm2}, prom-client ${m.promClient}, `
    + `sockrun ${m.sockrun}; ${m.date}`;
}

module.exports = { describe, markdown };
