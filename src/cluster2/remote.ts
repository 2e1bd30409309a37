/**
 * cluster2's stop and shutdown scripts (`new Cluster().stop()` run on its own, as in cluster2's
 * README): find the running master through its pid file, send it the command over its control
 * socket, and resolve once it has exited, so scripts can chain on it.
 */
import { findMaster, isAlive, request } from '../control/client';
import { SockrunError } from '../errors';
import { ClusterOptions, pidFileOf } from './options';

/** How long the master has to acknowledge a command (the drain itself may take longer). */
const ACK_TIMEOUT_MS = 10_000;
const POLL_MS = 50;

export async function controlRemoteMaster(options: ClusterOptions, cmd: 'stop' | 'shutdown'): Promise<void> {
  const pidFile = process.env.SOCKRUN_PID_FILE || pidFileOf(options);
  if (!pidFile) throw new SockrunError('SOCKRUN_ERR_USAGE', `Cluster.${cmd}(): no pid file to find the master by (pids: false)`);
  const controlSocket = process.env.SOCKRUN_CONTROL_SOCKET || (options.controlSocket === undefined ? undefined : String(options.controlSocket));
  const { pid, socketPath } = findMaster({ pidFile, controlSocket });
  const reply = await request(socketPath, cmd, ACK_TIMEOUT_MS);
  if (!reply.ok) throw new SockrunError('SOCKRUN_ERR_CONTROL', `Cluster.${cmd}(): ${String(reply.message)}`);
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, POLL_MS));
}
