/**
 * The cluster2 ECV answer ("extended content verification", cluster2 lib/ecv.js and README
 * "Routing Traffic"), byte for byte where load balancers look: the status line, the body
 * `status=…&ServeTraffic=…&ip=…&hostname=…&port=…&time=…` and the headers X-Powered-By, since,
 * cache-control: no-cache, Connection: close.
 *
 * Shared by the master (GET /ecv on the admin port) and the workers (GET /ecv on the app port,
 * --ecv-on-app-port). Pure apart from reading the host name once; imports nothing of sockrun.
 */
import os = require('node:os');

/** The path cluster2 served its heartbeat on, and sockrun on both ports. */
export const ECV_PATH = '/ecv';

export interface EcvAnswer {
  status: 200 | 400;
  headers: Record<string, string>;
  body: string;
}

const hostname = os.hostname();

/**
 * The answer to GET /ecv. `available` is the instance's verdict (ready and ECV enabled);
 * `since` is when the master started (cluster2 sent its start time); `ip` the local address
 * the request arrived on and `port` the app's port (cluster2 sent both so).
 */
export function ecvAnswer(available: boolean, ip: string, port: number | string, since: Date, now = new Date()): EcvAnswer {
  return {
    status: available ? 200 : 400,
    headers: { ...ecvHeaders(since), 'content-type': 'text/plain' },
    body: `status=${available ? 'AVAILABLE' : 'DISABLED'}&ServeTraffic=${available}&ip=${ip}&hostname=${hostname}&port=${port}&time=${now.toString()}`,
  };
}

/** Headers of every ECV answer, including the 204 of POST /ecv/enable and /ecv/disable. */
export function ecvHeaders(since: Date): Record<string, string> {
  return { 'x-powered-by': 'Cluster2', since: since.toString(), 'cache-control': 'no-cache', connection: 'close' };
}

/**
 * The address a request arrived on, as cluster2 reported it (`req.connection.address()`):
 * IPv4-mapped addresses unwrapped; a unix socket has none, so the host's first external IPv4
 * address stands in (127.0.0.1 when there is none).
 */
export function localIp(localAddress: string | undefined): string {
  if (localAddress) return localAddress.startsWith('::ffff:') ? localAddress.slice(7) : localAddress;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
