// Delegation: the master reads config.json once for every worker and pushes each change to them.
//   node examples/cluster2/config-delegate.js     then edit examples/cluster2/config.json
//   curl localhost:3000/                           → the config this worker holds, and its pid
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { Cluster, delegate, isWorker } = require('sockrun');

const CONFIG = path.join(__dirname, 'config.json');
const c = new Cluster({ port: 3000, noWorkers: 2 });

// Master side: one reader, one watcher, whatever the number of workers.
const read = () => JSON.parse(fs.readFileSync(CONFIG, 'utf8'));
c.handle('read-config', () => read());
if (!isWorker) {
  fs.watchFile(CONFIG, { interval: 500 }, () => {
    try {
      console.log(`config changed; pushed to ${c.notify('read-config', read())} workers`);
    } catch (err) {
      console.error(`config.json unreadable, workers keep the previous one: ${err.message}`);
    }
  }).unref();
}

// Worker side: ask once at boot, then follow the changes.
let config = {};
if (isWorker) {
  delegate('read-config', null, { timeout: 5000, onNotification: (next) => (config = next) })
    .then((first) => (config = first))
    .catch((err) => console.error(`no config (${err.code}): ${err.message}`));
}
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, config }) + '\n');
});
c.listen((cb) => cb(server));
