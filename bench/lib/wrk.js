'use strict';
/**
 * The load generator: Debian's wrk, installed with apt-get when missing and we are root.
 * A Lua done() hook (wrk/report.lua) prints the summary as JSON, so nothing is scraped from
 * wrk's human output.
 */
const path = require('path');
const { execFileSync } = require('child_process');
const proc = require('./proc');

const REPORT_LUA = path.join(__dirname, 'wrk', 'report.lua');

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** Path of wrk; installs it (apt-get) when missing and we run as root, else throws with a hint. */
function ensureWrk(log) {
  let bin = which('wrk');
  if (bin) return bin;
  if (typeof process.getuid === 'function' && process.getuid() === 0 && which('apt-get')) {
    log('wrk is missing: installing it with apt-get (Debian package "wrk")');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const apt = (args) => execFileSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    try {
      apt(['install', '-y', '-qq', '--no-install-recommends', 'wrk']);
    } catch {
      apt(['update', '-qq']);
      apt(['install', '-y', '-qq', '--no-install-recommends', 'wrk']);
    }
    bin = which('wrk');
    if (bin) return bin;
  }
  throw new Error('wrk not found: install it (Debian/Ubuntu: apt-get install wrk) and run again');
}

function version(bin) {
  try {
    execFileSync(bin, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // wrk -v prints its version and exits 1.
    const text = String(err.stdout || '') + String(err.stderr || '');
    const m = /wrk\s+([^\s]+)/.exec(text);
    if (m) return m[1];
  }
  return 'unknown';
}

/**
 * One wrk run against http://127.0.0.1:port/path. shape 'keepalive' or 'close' (a new connection
 * per request: Connection: close). Resolves the parsed summary plus rps and errors (sum of connect,
 * read, write, timeout and non-2xx/3xx).
 */
async function run(bin, { port, path: urlPath = '/', seconds, connections = 50, threads = 2, shape = 'keepalive', timeoutS = 2 }) {
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', `${timeoutS}s`, '-s', REPORT_LUA];
  if (shape === 'close') args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}${urlPath}`);
  const r = await proc.run(bin, args, { timeoutMs: (seconds + timeoutS + 15) * 1000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (!line) throw new Error(`wrk produced no summary (exit ${r.code}): ${r.stderr || r.stdout}`);
  const s = JSON.parse(line.slice(8));
  s.rps = s.requests / (s.duration_us / 1e6);
  s.errors = s.connect + s.read + s.write + s.timeout + s.status;
  return s;
}

module.exports = { ensureWrk, version, run };
