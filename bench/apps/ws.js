'use strict';
// The WebSocket bench app: `ws` on an ordinary http server, `listen(3000)` unless PORT says
// otherwise. Each client is greeted with "hello <pid>"; HTTP answers carry x-pid. On SIGTERM or
// SIGINT it closes every client with 1001 (going away), the pattern sockrun's README documents,
// then exits once its connections ended. Every contender runs this same file.
const http = require('http');
const { WebSocketServer } = require('ws');

const server = http.createServer((req, res) => {
  res.setHeader('x-pid', String(process.pid));
  res.end('ws app\n');
});
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => ws.send(`hello ${process.pid}`));
server.listen(Number(process.env.PORT || 3000), process.env.HOST);

const stop = () => {
  for (const ws of wss.clients) ws.close(1001, 'going away');
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
