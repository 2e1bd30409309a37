// An ordinary Node server that knows nothing of sockrun. Run it with:
//   node bin/sockrun.js --workers 2 --listen 127.0.0.1:8080 examples/hello/app.js
// and it serves on 127.0.0.1:8080 from two workers, though it asks for port 3000.
const http = require('node:http');

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello from worker ${process.pid}\n`);
});

server.listen(3000, () => console.log(`worker ${process.pid} listening`));
