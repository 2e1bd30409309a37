/**
 * GET /ecv on the app's own port (--ecv-on-app-port), answered by the worker before the app
 * sees the request, for load balancers that probe the service port as cluster2 allowed. The
 * verdict is the master's (ready and ECV enabled), pushed over IPC (`sockrun:ecv`) at spawn and
 * on every change; until the first message a worker answers DISABLED.
 *
 * Only GET and HEAD of exactly /ecv (a query string allowed) on a server listening on an
 * inherited socket are answered; everything else, POST /ecv/disable included, goes to the app:
 * control stays on the admin port, behind its token. ECV probes are not counted as requests.
 *
 * Hot path: with the option off nothing is installed. With it on, each request pays a comparison
 * of the event name and of its URL: a few tens of nanoseconds (test/unit/admin-worker-ecv.test.ts measures it).
 */
import net = require('node:net');
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ECV_PATH, ecvAnswer, localIp } from '../admin/ecv-format';
import { MasterMessage, SocketInfo, WorkerEnv } from '../protocol';
import { state } from './drain/state';

const QUERY_PREFIX = `${ECV_PATH}?`;

export function installEcvOnAppPort(
  env: NodeJS.ProcessEnv,
  sockets: SocketInfo[],
  onMasterMessage: (handler: (m: MasterMessage) => void) => void,
): void {
  if (env[WorkerEnv.ECV_ON_APP_PORT] !== '1') return;
  // A request answered here is no request of the app's: the drain does not count it.
  state.isEcvProbe = isEcvRequest;
  let available = false;
  let since = new Date();
  onMasterMessage((m) => {
    if (m.type !== 'sockrun:ecv') return;
    available = m.available;
    since = new Date(m.since);
  });

  const inherited = new Set(sockets.map((s) => s.fd));
  const ours = new WeakMap<net.Server, boolean>();
  const servesInherited = (server: net.Server): boolean => {
    let yes = ours.get(server);
    if (yes === undefined) {
      yes = inherited.has((server as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1);
      ours.set(server, yes);
    }
    return yes;
  };

  const emit = net.Server.prototype.emit as (this: net.Server, event: string | symbol, ...args: unknown[]) => boolean;
  const answer = (req: IncomingMessage, res: ServerResponse): void => {
    const a = ecvAnswer(available, localIp(req.socket.localAddress), req.socket.localPort ?? '', since);
    res.writeHead(a.status, { ...a.headers, 'content-length': Buffer.byteLength(a.body) });
    res.end(a.body);
  };
  // 'request' always carries exactly (req, res): forwarding it with call() instead of
  // apply(this, arguments) halves the cost per request (measured on Node 20).
  net.Server.prototype.emit = function emitWithEcv(this: net.Server, event: string | symbol, req?: unknown, res?: unknown): boolean {
    if (event === 'request') {
      if (isEcvRequest(req as IncomingMessage) && servesInherited(this)) {
        answer(req as IncomingMessage, res as ServerResponse);
        return true;
      }
      return emit.call(this, event, req, res);
    }
    // eslint-disable-next-line prefer-rest-params
    return emit.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
  };
}

function isEcvRequest(req: IncomingMessage): boolean {
  const url = req.url;
  return (url === ECV_PATH || url?.startsWith(QUERY_PREFIX) === true) && (req.method === 'GET' || req.method === 'HEAD');
}
