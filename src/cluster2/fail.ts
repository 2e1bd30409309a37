import { ExitCode, SockrunError } from '../errors';
import type { Cluster } from './cluster';

/**
 * A Cluster that cannot start (port busy, bad option): emitted as `error` when someone listens,
 * else one line on stderr and the documented exit code — cluster2 exited with an error code when
 * the port was busy, to fail start scripts.
 */
export function failToStart(cluster: Cluster, err: unknown): void {
  if (cluster.listenerCount('error') > 0) {
    cluster.emit('error', err);
    return;
  }
  if (err instanceof SockrunError) {
    process.stderr.write(`sockrun: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`sockrun: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(ExitCode.INTERNAL);
}
