'use strict';
/**
 * A few client loops that watch a server while wrk loads it: each sends GET on a new connection,
 * again and again, and classifies what it sees. Unlike wrk's error counters, this tells a
 * refused connection (nothing listening, or a full backlog) from a request lost after the
 * connection was accepted (reset, timeout, non-200), and it notices the first answer from a
 * worker pid it has not seen before (a replacement worker accepting).
 */
const { get } = require('./http');
const proc = require('./proc');

/**
 * Starts `loops` client loops on port. knownPids: pids whose answers are not "new".
 * Returns {stop(): Promise<Result>, firstNewPidAt()}; times are proc.now() milliseconds.
 */
function observe(port, { loops = 4, path = '/', knownPids = [], timeoutMs = 5000, refusedBackoffMs = 5 } = {}) {
  const known = new Set(knownPids.map(Number));
  const r = { ok: 0, refused: 0, lost: 0, errors: {}, lostSamples: [], firstNewPidAt: null, firstNewPid: null, newPids: [] };
  let running = true;
  const loop = async () => {
    while (running) {
      const res = await get(port, path, { timeoutMs });
      if (res.ok) {
        r.ok++;
        const pid = Number(res.headers['x-pid']);
        if (pid && !known.has(pid)) {
          known.add(pid);
          r.newPids.push(pid);
          if (r.firstNewPidAt === null) {
            r.firstNewPidAt = proc.now();
            r.firstNewPid = pid;
          }
        }
        continue;
      }
      const key = res.error || `HTTP ${res.status}`;
      r.errors[key] = (r.errors[key] || 0) + 1;
      if (!res.connected) {
        r.refused++;
        // Nothing to connect to: do not spin; a real client backs off too.
        await proc.sleep(refusedBackoffMs);
      } else {
        r.lost++;
        // When and after how long: a request that waited in a backlog nobody drains looks
        // different from one reset mid-flight.
        if (r.lostSamples.length < 20) r.lostSamples.push({ at: proc.now(), ms: Math.round(res.ms), error: key });
      }
    }
  };
  const all = Array.from({ length: loops }, loop);
  return {
    result: r,
    async stop() {
      running = false;
      await Promise.all(all);
      return r;
    },
  };
}

module.exports = { observe };
