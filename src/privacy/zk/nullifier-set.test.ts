import { describe, expect, it } from 'vitest';
import { NullifierSet } from './nullifier-set.js';

describe('NullifierSet', () => {
  it('spends a nullifier once per scope and forgets a cleared scope', () => {
    const set = new NullifierSet();
    set.consume(1n, 7n);
    expect(() => set.consume(1n, 7n)).toThrow(expect.objectContaining({ code: 'ZK_NULLIFIER_REUSED' }));
    set.consume(2n, 7n);
    set.clear(1n);
    expect(set.has(1n, 7n)).toBe(false);
    expect(set.has(2n, 7n)).toBe(true);
  });
});
