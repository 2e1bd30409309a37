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
 * Hot path: with the option off nothing is installed. With it on, every event a server emits
 * pays one comparison (`event === 'request'`) and every request one string comparison of its
 * URL; `arguments` is passed through untouched so no array is allocated per event.
 */
import * as net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ECV_PATH, ecvAnswer, localIp } from '../admin/ecv-format';
import { MasterMessage, SocketInfo, WorkerEnv } from '../protocol';

const QUERY_PREFIX = `${ECV_PATH}?`;

export function installEcvOnAppPort(
  env: NodeJS.ProcessEnv,
  sockets: SocketInfo[],
  onMasterMessage: (handler: (m: MasterMessage) => void) => void,
): void {
  if (env[WorkerEnv.ECV_ON_APP_PORT] !== '1') return;
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

  const emit = net.Server.prototype.emit;
  net.Server.prototype.emit = function emitWithEcv(this: net.Server, event: string | symbol): boolean {
    if (event === 'request') {
      const req = arguments[1] as IncomingMessage;
      const url = req.url;
      if ((url === ECV_PATH || url?.startsWith(QUERY_PREFIX)) && (req.method === 'GET' || req.method === 'HEAD') && servesInherited(this)) {
        const res = arguments[2] as ServerResponse;
        const a = ecvAnswer(available, localIp(req.socket.localAddress), req.socket.localPort ?? '', since);
        res.writeHead(a.status, { ...a.headers, 'content-length': Buffer.byteLength(a.body) });
        res.end(a.body);
        return true;
      }
    }
    // eslint-disable-next-line prefer-rest-params
    return emit.apply(this, arguments as unknown as Parameters<typeof emit>);
  };
}
