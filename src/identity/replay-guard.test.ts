import { describe, expect, it } from 'vitest';
import { ReplayGuard } from './replay-guard.js';

const nonce = (n: number): Uint8Array => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
};

describe('ReplayGuard', () => {
  it('admits a nonce once per sender while its timestamp is inside the window', () => {
    const guard = new ReplayGuard(1000);
    expect(guard.admit('alice', nonce(1), 5000, 5000)).toBe(true);
    expect(guard.admit('alice', nonce(1), 5000, 5500)).toBe(false);
    expect(guard.admit('alice', nonce(1), 5000, 6000)).toBe(false);
    // Another sender's identical nonce is its own.
    expect(guard.admit('bob', nonce(1), 5000, 5500)).toBe(true);
    // A view into a larger buffer is read by its own bytes.
    const wide = new Uint8Array(32);
    wide.set(nonce(1), 8);
    expect(guard.admit('alice', wide.subarray(8, 24), 5000, 5600)).toBe(false);
  });

  it('forgets a nonce after timestamp + window, when the verifier would call the message stale anyway', () => {
    const guard = new ReplayGuard(1000);
    guard.admit('alice', nonce(1), 5000, 4500);
    expect(guard.admit('alice', nonce(1), 5000, 6000)).toBe(false);
    expect(guard.admit('alice', nonce(1), 5000, 6001)).toBe(true);
  });

  it('holds only the last few windows of nonces however long it runs', () => {
    const guard = new ReplayGuard(1000);
    let largest = 0;
    for (let now = 0, n = 0; now < 100_000; now += 10) {
      for (let k = 0; k < 5; k++) expect(guard.admit('alice', nonce(n++), now - 900 + k * 400, now)).toBe(true);
      largest = Math.max(largest, guard.size);
    }
    // 500 messages a window; entries live at most about three windows (timestamp up to one window old, one window of life, one sweep interval).
    expect(largest).toBeLessThanOrEqual(1600);
    expect(largest).toBeGreaterThanOrEqual(500);
  });
});
