import type { Configuration } from '../config/resolve';
import { usageError } from '../errors';
import { HeldSocket, bindAll, releaseSocket } from './hold';
import { adoptFd, socketIdentity } from './inherited';
import type { InheritedFd } from './listen-fds';

/**
 * DESIGN §2, in order of precedence: systemd's sockets (already parsed, env already unset),
 * then `--fd`, then our own binds. A bad descriptor, a duplicate or a busy port fails here,
 * before any worker starts, and closes what was opened so far. Worker-side fd numbers are
 * assigned by whoever hands the sockets on.
 */
export async function gatherSockets(fromSystemd: InheritedFd[], config: Pick<Configuration, 'fds' | 'listen' | 'backlog'>): Promise<HeldSocket[]> {
  const inherited = [...fromSystemd.map((fd) => ({ fd, source: 'systemd' })), ...config.fds.map((fd) => ({ fd, source: '--fd' }))];
  const label = (i: number) => (inherited[i].source === '--fd' ? `--fd ${inherited[i].fd.fd}` : `systemd's fd ${inherited[i].fd.fd}`);
  inherited.forEach(({ fd }, i) => {
    const first = inherited.findIndex((o) => o.fd.fd === fd.fd);
    if (first < i) throw usageError(label(first) === label(i) ? `${label(i)} is given twice` : `${label(i)} is also ${label(first)}`);
  });
  const held: Omit<HeldSocket, 'fd'>[] = [];
  try {
    const seen = new Map<string, number>();
    inherited.forEach(({ fd, source }, i) => {
      held.push(adoptFd(fd, source));
      const id = socketIdentity(fd.fd);
      if (id !== undefined && seen.has(id)) throw usageError(`${label(i)} is the same socket as ${label(seen.get(id)!)}`);
      if (id !== undefined) seen.set(id, i);
    });
    held.push(...await bindAll(config.listen, { backlog: config.backlog }));
  } catch (err) {
    for (const s of held) releaseSocket(s);
    throw err;
  }
  return held.map((s) => ({ ...s, fd: -1 }));
}
