/**
 * cluster2's monitor app — `c.listen(cb => cb(app, monApp))`, or the `monitor` option — served
 * on monPort, as cluster2 served it (issue 17).
 *
 * Where it runs: in the master, on the admin port, for every path the admin port does not
 * answer itself (/livez, /readyz, /healthz, /metrics, /ecv keep theirs).
 *  - monPort is sockrun's admin port, which the master serves; one port cannot be served by
 *    the master and by the workers without the master proxying connections, which it never does.
 *  - cluster2 ran the monitor app in its master, so monitor apps were written against the
 *    master's process (its memory, the Cluster's events); in a worker they would answer from
 *    whichever worker accepted, and they would stall whenever the workers are saturated or hung,
 *    which is when a monitor is needed.
 *  - A `node app.js` master has already run the script's top level, which built the monitor
 *    app: serving it loads no app code the master did not load anyway. The `sockrun` CLI's
 *    master runs no app code, so there the monitor app is not served (worker-role.ts warns).
 * The cost: the monitor's handlers run on the master's event loop. They must stay light (no
 * synchronous work), as they had to in cluster2; the admin port's limits apply to them.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Handler } from '../admin/server';

/**
 * A request handler for `monApp`: an express/connect app or any `(req, res)` function, or an
 * `http.Server` (its 'request' listeners; it is never listened on). undefined for anything else
 * (a net.Server speaks no HTTP). A handler that throws answers 500 instead of crashing the master.
 */
export function monitorHandler(monApp: unknown, log: Logger): Handler | undefined {
  let handle: Handler;
  if (typeof monApp === 'function') {
    handle = (req, res) => (monApp as Handler)(req, res);
  } else if (monApp instanceof EventEmitter && monApp.listenerCount('request') > 0) {
    handle = (req, res) => void monApp.emit('request', req, res);
  } else {
    return undefined;
  }
  return (req: IncomingMessage, res: ServerResponse) => {
    try {
      handle(req, res);
    } catch (err) {
      log.error({ err, path: req.url }, 'the monitor app threw');
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        res.end('internal error\n');
      } else {
        res.destroy();
      }
    }
  };
}

/** Why a monitor app handed to a Cluster is not served in this process, for a one-line warning. */
export function unservedMonitorApp(where: 'cli' | 'single'): string {
  return where === 'cli'
    ? 'the monitor app (cb(app, monApp)) is not served under the sockrun CLI: its master runs no app code; run the script as `node app.js` to serve it on monPort'
    : 'the monitor app (cb(app, monApp)) is not served in one process (cluster: false, or zero workers): there is no admin port; run with workers to serve it on monPort';
}

/** Set by a Cluster master for its workers (its pid): a master that serves the monitor app. */
export const CLUSTER_MASTER_ENV = 'SOCKRUN_CLUSTER_MASTER';
