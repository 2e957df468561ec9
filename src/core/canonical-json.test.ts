import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth, keeps array order and writes no whitespace', () => {
    expect(canonicalJson({ b: [3, { z: 1, a: null }], a: 'x' })).toBe('{"a":"x","b":[3,{"a":null,"z":1}]}');
  });

  it('gives equal text for objects that differ only in key order', () => {
    expect(canonicalJson({ rounds: 5, model: { type: 'mlp', hidden: [64] } })).toBe(canonicalJson({ model: { hidden: [64], type: 'mlp' }, rounds: 5 }));
  });
});
