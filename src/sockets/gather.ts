import type { Configuration } from '../config/resolve';
import { HeldSocket, adoptFd, bindSocket } from './hold';
import type { InheritedFd } from './listen-fds';

/**
 * DESIGN §2, in order of precedence: systemd's sockets (already parsed, env already unset),
 * then `--fd`, then our own binds. A bad descriptor or a busy port fails here, before any
 * worker starts. Worker-side fd numbers are assigned by whoever hands the sockets on.
 */
export async function gatherSockets(fromSystemd: InheritedFd[], config: Pick<Configuration, 'fds' | 'listen'>): Promise<HeldSocket[]> {
  const held: Omit<HeldSocket, 'fd'>[] = [];
  for (const fd of fromSystemd) held.push(adoptFd(fd, 'systemd'));
  for (const fd of config.fds) held.push(adoptFd(fd, '--fd'));
  for (const { name, address } of config.listen) held.push(await bindSocket(address, name));
  return held.map((s) => ({ ...s, fd: -1 }));
}
