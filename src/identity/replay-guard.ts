/**
 * Remembers the nonces of accepted messages for as long as their timestamps are inside the
 * acceptance window, so a captured message cannot be accepted twice. A message stamped `t` is only
 * accepted while `|now - t| <= windowMs`, so its nonce can be forgotten after `t + windowMs`:
 * memory holds only what was accepted in the last few windows.
 */
export class ReplayGuard {
  // Key: sender and nonce; value: the last instant the message's timestamp is acceptable.
  private readonly seen = new Map<string, number>();
  private nextSweep = 0;

  /** `windowMs` must be at least the verifier's clock-skew allowance. */
  constructor(readonly windowMs: number) {}

  /** Records the sender's nonce and returns true, or returns false when it was recorded before and has not expired. */
  admit(sender: string, nonce: Uint8Array, timestamp: number, now: number): boolean {
    this.sweep(now);
    // The sender is part of the key so one participant cannot spend another's nonces.
    const key = `${sender} ${Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64')}`;
    const expiry = this.seen.get(key);
    if (expiry !== undefined && expiry >= now) return false;
    this.seen.set(key, timestamp + this.windowMs);
    return true;
  }

  /** Nonces currently remembered. */
  get size(): number {
    return this.seen.size;
  }

  // A full pass at most once a window keeps the cost per message constant on average.
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    for (const [key, expiry] of this.seen) if (expiry < now) this.seen.delete(key);
    this.nextSweep = now + this.windowMs;
  }
}
