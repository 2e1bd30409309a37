/**
 * What the admin port answers. A fixed table of exact paths: nothing is ever looked up on disk,
 * nothing is normalized (`/readyz/../ecv/disable`, `//readyz`, `/%72eadyz` are all 404), and
 * bodies carry state names, counts and check messages, never environment, argv or tokens.
 *
 *   GET  /livez  /readyz  /healthz  [?verbose] [?exclude=check]   200 | 503
 *   GET  /livez/<check>  /readyz/<check>  /healthz/<check>          200 | 503 | 404
 *   GET  /metrics                                                   200 (Prometheus text)
 *   GET  /                                                          200 (the status page, HTML)
 *   GET  /status                                                    200 (what the page shows, JSON)
 *   GET  /ecv                                                       200 AVAILABLE | 400 DISABLED (cluster2)
 *   POST /ecv/enable  /ecv/disable   (token or unix socket)         204 | 401 | 403
 *
 * HEAD is accepted wherever GET is. Other methods: 405 with Allow.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { MetricsRenderer } from '../metrics';
import type { Master } from '../master/master';
import { Transport, TokenFile, authorize } from './auth';
import { Check, ProbeKind, probeAnswer, singleCheckAnswer } from './checks';
import { ECV_PATH, ecvAnswer, ecvHeaders, localIp } from './ecv-format';
import type { Readiness } from './readiness';
import { ByteBudget } from './scrape-budget';
import { Handler, LIMITS, keepForScraper } from './server';
import type { StatusReport } from './status';
import { statusPage } from './status-page';

/** A scrape not rendered within this is answered 503 (rendering never waits for workers: this is a safety net). */
const METRICS_DEADLINE_MS = 10_000;
/**
 * Scrape responses being written at once; one more is answered 503 at once. A client that sends
 * GET /metrics and never reads holds its response (and the render it shares) until the write
 * deadline: this bounds what 300 of them cost the master (issue 15.6: without it, probes timed
 * out for ~20 s and the master grew by ~800 MB). A real Prometheus server scrapes one at a time.
 */
export const MAX_CONCURRENT_SCRAPES = 16;
/**
 * A scrape response not fully written this long after the request is cut: Prometheus' default
 * scrape_timeout, after which no Prometheus is still reading it.
 */
export const SCRAPE_WRITE_TIMEOUT_MS = 10_000;
/**
 * Bytes of /metrics written per second at most (scrape-budget.ts); a scrape beyond it is
 * answered 503 at once. A Prometheus server scraping a 1 MB body every 15 s uses 0.2 % of it.
 */
export const SCRAPE_BYTES_PER_SECOND = 32 * 1024 * 1024;
/** At most one warning a second about refused requests: a flood of bad tokens must not flood the log. */
const WARN_EVERY_MS = 1000;

export interface RouteContext {
  master: Master;
  readiness: Readiness;
  metrics: MetricsRenderer;
  transport: Transport;
  token: TokenFile | undefined;
  ecvControl: boolean;
  log: Logger;
  /** GET /status and the page (status.ts). */
  status: () => StatusReport;
  /** Answers paths not in the table instead of 404 (the cluster2 facade's monitor app). */
  unmatched?: Handler;
}

type Route = { methods: string[]; handle: (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => void | Promise<void> };

const READ = ['GET', 'HEAD'];
const PROBES: ProbeKind[] = ['livez', 'readyz', 'healthz'];

export function adminHandler(ctx: RouteContext): Handler {
  const warn = rateLimited(ctx.log);
  const routes = new Map<string, Route>();
  for (const kind of PROBES) {
    routes.set(`/${kind}`, { methods: READ, handle: (req, res, q) => probe(ctx, kind, req, res, q) });
  }
  const scrapes = { active: 0, budget: new ByteBudget(SCRAPE_BYTES_PER_SECOND) };
  routes.set('/metrics', { methods: READ, handle: (req, res) => metrics(ctx, scrapes, req, res) });
  routes.set(ECV_PATH, { methods: READ, handle: (req, res) => ecv(ctx, req, res) });
  routes.set('/', {
    methods: READ,
    handle: (req, res) => {
      const page = statusPage();
      send(req, res, 200, page.body, page.headers);
    },
  });
  routes.set('/status', { methods: READ, handle: (req, res) => send(req, res, 200, `${JSON.stringify(ctx.status(), null, 2)}\n`, { 'content-type': 'application/json; charset=utf-8' }) });
  if (ctx.ecvControl) {
    routes.set(`${ECV_PATH}/enable`, { methods: ['POST'], handle: (req, res) => ecvControl(ctx, warn, req, res, true) });
    routes.set(`${ECV_PATH}/disable`, { methods: ['POST'], handle: (req, res) => ecvControl(ctx, warn, req, res, false) });
  }

  return (req, res) => {
    const target = req.url ?? '';
    if (!target.startsWith('/')) return send(req, res, 400, 'bad request target\n');
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (!(declared <= LIMITS.maxBodyBytes)) return send(req, res, 413, `request body over ${LIMITS.maxBodyBytes} bytes\n`);
    const route = routes.get(path) ?? checkRoute(ctx, path);
    if (!route) return ctx.unmatched ? ctx.unmatched(req, res) : send(req, res, 404, 'not found\n');
    if (!route.methods.includes(req.method ?? '')) {
      warn(`${req.method} ${path}`, 'admin request refused: method not allowed');
      return send(req, res, 405, 'method not allowed\n', { allow: route.methods.join(', ') });
    }
    let query: URLSearchParams;
    try {
      query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    } catch {
      return send(req, res, 400, 'bad query\n');
    }
    Promise.resolve(route.handle(req, res, query)).catch((err: Error) => {
      ctx.log.error({ err, path }, 'admin request failed');
      if (!res.headersSent) send(req, res, 500, 'internal error\n');
      else res.destroy();
    });
  };
}

/** `/readyz/workers` and friends: one check alone. */
function checkRoute(ctx: RouteContext, path: string): Route | undefined {
  const m = /^\/(livez|readyz|healthz)\/([a-z]+)$/.exec(path);
  if (!m) return undefined;
  const kind = m[1] as ProbeKind;
  const name = m[2];
  if (!checksFor(ctx, kind).some((c) => c.name === name)) return undefined;
  return {
    methods: READ,
    handle: (req, res) => {
      const check = checksFor(ctx, kind).find((c) => c.name === name)!;
      const a = singleCheckAnswer(check);
      send(req, res, a.status, a.body);
    },
  };
}

function checksFor(ctx: RouteContext, kind: ProbeKind): Check[] {
  if (kind === 'livez') return ctx.readiness.liveness();
  if (kind === 'readyz') return ctx.readiness.readiness();
  return [...ctx.readiness.liveness(), ...ctx.readiness.readiness()];
}

function probe(ctx: RouteContext, kind: ProbeKind, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
  const v = query.get('verbose');
  const verbose = v !== null && v !== '0' && v !== 'false';
  const answer = probeAnswer(kind, checksFor(ctx, kind), ctx.master.snapshot(), { verbose, exclude: query.getAll('exclude') });
  send(req, res, answer.status, answer.body);
}

async function metrics(ctx: RouteContext, scrapes: { active: number; budget: ByteBudget }, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (scrapes.active >= MAX_CONCURRENT_SCRAPES) {
    return send(req, res, 503, `more than ${MAX_CONCURRENT_SCRAPES} scrapes at once; try again\n`, { 'retry-after': '1' });
  }
  scrapes.active++;
  const cut = setTimeout(() => res.destroy(), SCRAPE_WRITE_TIMEOUT_MS).unref();
  // 'close': written in full, or the connection is gone (cut, or the client left).
  res.once('close', () => {
    scrapes.active--;
    clearTimeout(cut);
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), METRICS_DEADLINE_MS).unref()));
  try {
    const scrape = await Promise.race([ctx.metrics.render(req.headers.accept), deadline]);
    if (res.destroyed) return;
    if (!scrape) return send(req, res, 503, `metrics not rendered within ${METRICS_DEADLINE_MS} ms\n`);
    const length = scrape.body.reduce((n, b) => n + b.length, 0);
    if (req.method !== 'HEAD' && !scrapes.budget.take(length)) {
      return send(req, res, 503, 'too many scrape bytes this second; try again\n', { 'retry-after': '1' });
    }
    keepForScraper(res);
    res.writeHead(200, {
      'content-type': scrape.contentType,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-length': length,
    });
    // The render's own Buffers, for every client: a stalled reader pins them, it copies nothing.
    res.cork();
    for (const piece of scrape.body) res.write(piece);
    res.end();
    res.uncork();
  } finally {
    clearTimeout(timer);
  }
}

function appPort(ctx: RouteContext): number | string {
  const sockets = ctx.master.snapshot().sockets;
  const tcp = sockets.find((s) => s.kind === 'tcp' && s.port !== undefined);
  return tcp?.port ?? sockets[0]?.path ?? '';
}

function ecv(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): void {
  const a = ecvAnswer(ctx.readiness.isAvailable(), localIp(req.socket.localAddress), appPort(ctx), ctx.readiness.since);
  res.writeHead(a.status, { ...a.headers, 'content-length': Buffer.byteLength(a.body) });
  res.end(a.body);
}

type Warn = ReturnType<typeof rateLimited>;

async function ecvControl(ctx: RouteContext, warn: Warn, req: IncomingMessage, res: ServerResponse, enable: boolean): Promise<void> {
  const decision = await authorize(req, ctx.transport, ctx.token);
  if (!decision.ok) {
    warn(`${decision.status}`, 'admin request refused', { path: req.url, status: decision.status, reason: decision.message, remote: req.socket.remoteAddress });
    return send(req, res, decision.status, `${decision.message}\n`, decision.headers);
  }
  if (!(await readBody(req, res))) return;
  ctx.readiness.setEcv(enable, `${decision.who}${req.socket.remoteAddress ? ` from ${req.socket.remoteAddress}` : ''}`);
  res.writeHead(204, ecvHeaders(ctx.readiness.since));
  res.end();
}

/** Reads (and discards) a small body; over the limit answers 413 and returns false. */
function readBody(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (!hasBody(req)) return Promise.resolve(true);
  return new Promise((resolve) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > LIMITS.maxBodyBytes && !res.headersSent) {
        send(req, res, 413, `request body over ${LIMITS.maxBodyBytes} bytes\n`);
        resolve(false);
      }
    });
    req.on('end', () => resolve(bytes <= LIMITS.maxBodyBytes));
    req.on('error', () => resolve(false));
  });
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

function send(req: IncomingMessage, res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  const h: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
    ...headers,
  };
  // A body we did not read (or refused) is not worth reading to keep the connection: close it.
  if (status === 413 || (hasBody(req) && !req.readableEnded)) h.connection = 'close';
  res.writeHead(status, h);
  res.end(body);
}

function rateLimited(log: Logger): (key: string, msg: string, fields?: object) => void {
  let last = 0;
  let suppressed = 0;
  return (key, msg, fields = {}) => {
    const now = Date.now();
    if (now - last < WARN_EVERY_MS) {
      suppressed++;
      return;
    }
    log.warn({ ...fields, key, suppressed }, msg);
    last = now;
    suppressed = 0;
  };
}
