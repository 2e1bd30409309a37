// cluster2's "Start a HTTP Server" example; only the require line changed.
//   node examples/cluster2/http-server.js                          # master + one worker per usable CPU on :3000
//   SOCKRUN_LISTEN=127.0.0.1:8080 SOCKRUN_WORKERS=2 node examples/cluster2/http-server.js
//   sockrun --listen 8080 examples/cluster2/http-server.js          # the same script under the CLI master
// From a clone, let require('sockrun') find the repository: ln -sfn .. node_modules/sockrun
var Cluster = require('sockrun').Cluster,
    http = require('http');
var server = http.createServer(function (req, res) {
    res.writeHead(200);
    res.end('hello');
});
var c = new Cluster({
    port: 3000
});
c.listen(function(cb) {
    cb(server);
});
