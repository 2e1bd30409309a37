/**
 * GET /status (issue 18): what `sockrun status --json` says, plus what an operator with only
 * the admin port needs — readiness with each check and why, the sockets' sources, each worker's
 * due recycle, the recent reloads and exits (history.ts), and versions. The status page
 * (status-page.ts) renders exactly this.
 *
 * Nothing secret: no environment, no argv beyond the app path, no file contents beyond the
 * app's package name and version.
 */
import fs = require('node:fs');
import path = require('node:path');
import type { Master, MasterSnapshot, WorkerSnapshot } from '../master/master';
import type { SocketInfo } from '../protocol';
import { formatAddress } from '../sockets/address';
import type { Check } from './checks';
import type { History, HistorySnapshot } from './history';
import type { Readiness } from './readiness';

const SOCKRUN_VERSION: string = (require('../../package.json') as { version: string }).version;
/** A package.json bigger than this is not read (it is not one an app would have). */
const MAX_PACKAGE_JSON_BYTES = 1024 * 1024;
const MAX_FIELD_CHARS = 214; // npm's longest package name

export interface AppPackage {
  name: string | null;
  version: string | null;
}

export interface StatusReport extends Omit<MasterSnapshot, 'workers' | 'sockets'> {
  /** When this report was made (the master's clock, ISO 8601): the page's "ago" is relative to it. */
  time: string;
  /** The app's path as the master runs it (no arguments). */
  app: string;
  versions: { sockrun: string; node: string; app: AppPackage | null };
  workers: (WorkerSnapshot & { recycleDue: string | null; drainReason: string | null })[];
  sockets: (SocketInfo & { address: string; source: string | null })[];
  liveness: { ok: boolean; checks: Check[] };
  readiness: { ok: boolean; checks: Check[] };
  history: HistorySnapshot;
}

/**
 * The app's package name and version, as of the generation now serving: read when the master
 * starts and again when a reload succeeds (a `current -> releases/N` swap brings a new
 * package.json). Read at the end rather than at the start of the rollout, so a second SIGHUP
 * during a rollout is counted too; an aborted reload keeps the old value, as the old workers do.
 */
/** The physical path of the app file the serving generation runs. */
function servingApp(master: Master): string {
  return master.snapshot().generations.find((g) => g.generation === master.generation)?.app ?? master.options.release.app;
}

export class AppVersion {
  private serving: AppPackage | null;
  private readonly onReload: (r: { ok?: boolean }) => void;

  constructor(private readonly master: Master) {
    this.serving = readAppPackage(servingApp(master));
    this.onReload = (r) => {
      // After a release swap the new generation's app file is in the new release's directory.
      if (r?.ok) this.serving = readAppPackage(servingApp(master));
    };
    master.on('reload', this.onReload);
  }

  get current(): AppPackage | null {
    return this.serving;
  }

  close(): void {
    this.master.off('reload', this.onReload);
  }
}

/** Name and version from the nearest package.json above the app (null when there is none). */
export function readAppPackage(app: string): AppPackage | null {
  for (let dir = path.dirname(app); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(file);
    } catch {
      // none here: look in the parent directory
    }
    if (st?.isFile()) {
      if (st.size > MAX_PACKAGE_JSON_BYTES) return null;
      try {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
        return { name: field(pkg.name), version: field(pkg.version) };
      } catch {
        return null; // unreadable or not JSON: the nearest one decides, as for Node's own lookup
      }
    }
    if (path.dirname(dir) === dir) return null;
  }
}

function field(v: unknown): string | null {
  return typeof v === 'string' ? v.slice(0, MAX_FIELD_CHARS) : null;
}

export interface StatusSources {
  master: Master;
  readiness: Readiness;
  history: History;
  appVersion: AppVersion;
}

export function statusReport({ master, readiness, history, appVersion }: StatusSources): StatusReport {
  const snapshot = master.snapshot();
  const handles = new Map(master.liveWorkers().map((w) => [w.pid, w]));
  const held = master.options.sockets;
  const liveness = readiness.liveness();
  const ready = readiness.readiness();
  return {
    time: new Date().toISOString(),
    ...snapshot,
    app: servingApp(master),
    versions: { sockrun: SOCKRUN_VERSION, node: process.version, app: appVersion.current },
    workers: snapshot.workers.map((w) => ({
      ...w,
      recycleDue: handles.get(w.pid)?.recycleDue ?? null,
      drainReason: handles.get(w.pid)?.drainReason ?? null,
    })),
    sockets: snapshot.sockets.map((s) => ({
      ...s,
      address: s.kind === 'unix' ? formatAddress({ kind: 'unix', path: s.path ?? '' }) : formatAddress({ kind: 'tcp', host: s.host, port: s.port ?? 0 }),
      source: held.find((h) => h.fd === s.fd)?.source ?? null,
    })),
    liveness: { ok: liveness.every((c) => c.ok), checks: liveness },
    readiness: { ok: ready.every((c) => c.ok), checks: ready },
    history: history.snapshot(),
  };
}
