import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sgxVectorText } from '../../../test/vectors/tee/sgx-dcap/vectors.js';
import { rawMember } from './signed-json.js';

describe('rawMember', () => {
  it("cuts out a member's value byte for byte, whitespace and key order kept", () => {
    const text = '{ "signature" : "ab",\n "tcbInfo" :{"b": [1, {"c":"}"}], "a":"\\"{"} }';
    expect(rawMember(text, 'tcbInfo')).toBe('{"b": [1, {"c":"}"}], "a":"\\"{"}');
    expect(rawMember(text, 'signature')).toBe('"ab"');
    expect(rawMember(text, 'missing')).toBeNull();
  });

  it('finds the signed body of the PCS TCB info Intel served', () => {
    const text = sgxVectorText('mobilecoin-attestation_fmspc_00906ED50000_2023_07_12.json');
    const body = rawMember(text, 'tcbInfo');
    expect(body?.startsWith('{"id":"SGX","version":3')).toBe(true);
    expect(JSON.parse(body ?? '')).toEqual(JSON.parse(text).tcbInfo);
  });

  it('agrees with JSON.parse on any object, and never throws on any text', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), (object, key) => {
        const text = JSON.stringify(object, null, 1);
        const raw = rawMember(text, key);
        if (Object.hasOwn(object, key)) expect(JSON.parse(raw ?? 'null')).toEqual(JSON.parse(JSON.stringify(object[key])));
        else expect(raw).toBeNull();
      }),
    );
    fc.assert(fc.property(fc.string(), fc.string(), (text, key) => void rawMember(text, key)));
  });
});
