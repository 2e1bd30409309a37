'use strict';
// The HTTP/2 bench app: an ordinary h2c server (node:http2, compatibility API), `listen(3000)`
// unless PORT says otherwise. Every response carries x-pid; /slow answers after HELLO_SLOW_MS
// (default 300). On SIGTERM or SIGINT (what Node's cluster rolling restart here, PM2 and sockrun's
// drain send) it does what a careful app does on its own: stop accepting, exit once its
// connections ended. Every contender runs this same file.
const http2 = require('http2');

const slowMs = Number(process.env.HELLO_SLOW_MS || 300);
const server = http2.createServer((req, res) => {
  res.setHeader('x-pid', String(process.pid));
  if (req.url === '/slow') return setTimeout(() => res.end('slow\n'), slowMs);
  res.end('hello\n');
});
server.listen(Number(process.env.PORT || 3000), process.env.HOST);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
