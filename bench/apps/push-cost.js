'use strict';
// What one metrics push costs a worker, measured inside a worker-like process: the app's
// prom-client registry (default metrics plus a counter and a histogram that move between pushes),
// and sockrun's own pusher (dist/worker/metrics.js) sending over a real IPC channel to the bench,
// which forked this process. Prints {pushes, cpuMsPerPush: {median, p90}, bytesPerPush} as JSON.
const path = require('path');
const client = require('prom-client');
const { MetricsPusher } = require(path.join(__dirname, '..', '..', 'dist', 'worker', 'metrics.js'));

client.collectDefaultMetrics();
const requests = new client.Counter({ name: 'app_requests_total', help: 'Requests.', labelNames: ['route', 'code'] });
const latency = new client.Histogram({ name: 'app_request_duration_seconds', help: 'Latency.', labelNames: ['route'] });

const pushes = Number(process.env.PUSHES || 100);
const cpu = [];
let bytes = 0;
const pusher = new MetricsPusher(() => client.register.getMetricsAsJSON(), (m) => {
  bytes += JSON.stringify(m).length;
  process.send(m);
});

(async () => {
  await pusher.push('full');
  for (let i = 0; i < pushes; i++) {
    // Between two pushes an app serves requests: some series move, most do not.
    for (let r = 0; r < 50; r++) {
      requests.inc({ route: `/r${r % 5}`, code: '200' });
      latency.observe({ route: `/r${r % 5}` }, Math.random() / 10);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
    const before = process.cpuUsage();
    await pusher.push('delta');
    const used = process.cpuUsage(before);
    cpu.push((used.user + used.system) / 1000);
  }
  cpu.sort((a, b) => a - b);
  const q = (p) => cpu[Math.min(cpu.length - 1, Math.floor(cpu.length * p))];
  process.send({ result: { pushes, cpuMsPerPush: { median: q(0.5), p90: q(0.9) }, bytesPerPush: bytes / (pushes + 1) } }, () => process.exit(0));
})();
