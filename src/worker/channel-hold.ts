/**
 * sockrun's IPC channel must not keep the app alive (issue 12 §2: an app that closes its servers
 * or ends without listening exits as it would without sockrun) — except while the worker waits
 * for an answer it cannot go on without, such as the socket of a server's own address
 * (shared-client.ts): an app whose only pending work is that listen() would otherwise exit.
 */
type Channel = { ref?: () => void; unref?: () => void };
const channel = (): Channel | undefined => process.channel as Channel | undefined;
let holds = 0;

/** Lets the event loop end while nothing holds the channel. */
export function releaseChannel(): void {
  if (holds === 0) channel()?.unref?.();
}

/** Keeps the channel (and so the worker) alive until the returned function is called (once). */
export function holdChannel(): () => void {
  if (holds++ === 0) channel()?.ref?.();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holds === 0) channel()?.unref?.();
  };
}
