/**
 * How many bytes of /metrics the admin port writes per second (issue 15.6). Capping concurrent
 * scrapes is not enough on its own: a client that never reads still takes a whole 1.2 MB body
 * when the kernel's socket buffers can hold it (on loopback they can), and 300 such clients
 * made the master write ~220 MB/s, which on a busy 2-core machine delayed probes past a second.
 * A token bucket: the budget refills continuously up to one second's worth; a body bigger than
 * that passes when the bucket is full (and leaves it in debt), so a huge app is still scraped.
 */
export class ByteBudget {
  private tokens: number;
  private at: number;

  constructor(readonly perSecond: number, private readonly now: () => number = Date.now) {
    this.tokens = perSecond;
    this.at = now();
  }

  /** Spends `bytes` and returns true if the budget allows them now; else spends nothing. */
  take(bytes: number): boolean {
    const now = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < Math.min(bytes, this.perSecond)) return false;
    this.tokens -= bytes;
    return true;
  }
}
