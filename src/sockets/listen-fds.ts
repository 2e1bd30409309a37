import { SockrunError } from '../errors';

/** sd_listen_fds(3): the first inherited descriptor. */
export const LISTEN_FDS_START = 3;

export interface InheritedFd {
  fd: number;
  /** From LISTEN_FDNAMES, `unknown` when systemd gave none (as sd_listen_fds_with_names). */
  name: string;
}

/**
 * Reads socket-activation variables exactly as sd_listen_fds(3) does: they apply only when
 * LISTEN_PID equals `pid`; otherwise they belong to someone else and yield nothing. Garbage
 * (a non-numeric count, a name list of the wrong length) while LISTEN_PID is ours is an error,
 * never a guess. The caller unsets the variables (see `unsetListenEnv`) so workers and their
 * children don't misread them.
 */
export function parseListenFds(env: NodeJS.ProcessEnv, pid: number): InheritedFd[] {
  const listenPid = env.LISTEN_PID;
  if (listenPid === undefined || listenPid === '') return [];
  if (!/^\d+$/.test(listenPid.trim())) throw bad(`LISTEN_PID="${listenPid}" is not a pid`);
  if (Number(listenPid) !== pid) return [];
  const countText = env.LISTEN_FDS ?? '';
  if (!/^\d+$/.test(countText.trim())) throw bad(`LISTEN_FDS="${countText}" is not a count`);
  const count = Number(countText);
  if (count > 4096) throw bad(`LISTEN_FDS=${count} is implausibly large`);
  const names = env.LISTEN_FDNAMES === undefined || env.LISTEN_FDNAMES === '' ? [] : env.LISTEN_FDNAMES.split(':');
  if (names.length > 0 && names.length !== count) {
    throw bad(`LISTEN_FDNAMES has ${names.length} names for LISTEN_FDS=${count}`);
  }
  return Array.from({ length: count }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] || 'unknown' }));
}

/** Removes the socket-activation variables (sd_listen_fds with unset_environment=1). */
export function unsetListenEnv(env: NodeJS.ProcessEnv): void {
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
}

/** Parses `--fd N[:name]`. */
export function parseFdOption(input: string): InheritedFd {
  const m = /^\s*(\d+)(?::([A-Za-z_][\w.-]*))?\s*$/.exec(input);
  if (!m) throw new SockrunError('SOCKRUN_ERR_USAGE', `--fd ${input}: expected N or N:name (e.g. 3:http)`);
  const fd = Number(m[1]);
  if (fd < 3) throw new SockrunError('SOCKRUN_ERR_BAD_FD', `--fd ${fd}: descriptors 0-2 are stdio, not sockets`);
  return { fd, name: m[2] ?? 'unknown' };
}

function bad(message: string): SockrunError {
  return new SockrunError('SOCKRUN_ERR_LISTEN_FDS', `socket activation: ${message}`);
}
