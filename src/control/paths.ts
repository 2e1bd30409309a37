import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Where a master listens for control commands: --control-socket, else
 * `$RUNTIME_DIRECTORY/sockrun-<pid>.sock` (systemd's RuntimeDirectory=, shared by ExecStart and
 * ExecReload), else the temp dir. Client and master derive it the same way from the pid.
 */
export function controlSocketPath(pid: number, explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return explicit;
  const dir = env.RUNTIME_DIRECTORY?.split(':')[0] || os.tmpdir();
  return path.join(dir, `sockrun-${pid}.sock`);
}
