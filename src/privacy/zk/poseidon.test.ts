import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ZkInputError } from './errors.js';
import { SCALAR_FIELD } from './field.js';
import { poseidon } from './poseidon.js';

describe('poseidon', () => {
  // circomlib 2.0.5 test/poseidoncircuit.js checks the circuit against these (t = 3).
  it('matches circomlib test vectors', () => {
    expect(poseidon([1n, 2n])).toBe(7853200120776062878684798364095072458815029376092732009249414926327459813530n);
    expect(poseidon([3n, 4n])).toBe(14763215145315200506921711489642608356394854266165572616578112107564877678998n);
    // t = 2: circomlibjs's poseidon([1]); membership.test.ts also checks t = 2 against the circuit (the commitment).
    expect(poseidon([1n])).toBe(18586133768512220936620570745912940619677854269274689475585506675881198879027n);
  });

  it('uses the constants circomlib ships', () => {
    expect(() => execFileSync('node', ['scripts/poseidon-constants.mjs', '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it('refuses values outside the field and unsupported widths', () => {
    expect(() => poseidon([SCALAR_FIELD])).toThrow(ZkInputError);
    expect(() => poseidon([-1n, 0n])).toThrow(ZkInputError);
    expect(() => poseidon([1n, 2n, 3n])).toThrow(RangeError);
  });
});
