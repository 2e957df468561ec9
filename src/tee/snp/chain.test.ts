import { describe, expect, it } from 'vitest';
import { snpVector, snpVectorText } from '../../../test/vectors/tee/snp/vectors.js';
import { buildPath, pinnedProductOf, readChain, verifyPath } from './chain.js';
import { readEndorsementKey } from './endorsement-key.js';

function endorsementKey(name: string) {
  const read = readEndorsementKey(snpVector(name));
  if (!read.ok) throw new Error(read.reason);
  return read.key;
}

function pathFailure(leafName: string, chainName: string | null): string | null {
  const chain = chainName === null ? { ok: true as const, certificates: [] } : readChain(snpVectorText(chainName));
  if (!chain.ok) return chain.reason;
  const built = buildPath(endorsementKey(leafName).certificate, chain.certificates);
  return built.ok ? (verifyPath(built.path) ?? `ok ${pinnedProductOf(built.path.ark)}`) : built.reason;
}

describe('the path from an endorsement key to an AMD root', () => {
  it('chains the Turin VCEK to ARK-Turin, and not through the Milan or Genoa chains', () => {
    expect(pathFailure('virtee_vcek_turin.der', 'ask_ark_turin_vcek.pem')).toBe('ok Turin');
    expect(pathFailure('virtee_vcek_turin.der', null)).toBe('ok Turin');
    expect(pathFailure('virtee_vcek_turin.der', 'ask_ark_milan.pem')).toMatch(/issuer SEV-Turin/);
    expect(pathFailure('virtee_vcek_turin.der', 'ask_ark_genoa.pem')).toMatch(/issuer SEV-Turin/);
  });

  it('chains the VLEK through the ASVK, and each VCEK through its product\'s ASK', () => {
    expect(pathFailure('trustee_test-vlek.der', 'ask_ark_milan_vlek.pem')).toBe('ok Milan');
    expect(pathFailure('trustee_test-vlek.der', 'ask_ark_milan.pem')).toMatch(/issuer SEV-VLEK-Milan/);
    expect(pathFailure('trustee_az-vcek-genoa.pem', 'ask_ark_genoa.pem')).toBe('ok Genoa');
    expect(pathFailure('vcek.der', 'ask_ark_milan.pem')).toBe('ok Milan');
  });

  it('finds that the synthetic VCEKs were signed by no AMD key', () => {
    expect(pathFailure('trustee_test-vcek-invalid-legacy.der', null)).toMatch(/does not verify with SEV-Milan/);
    expect(pathFailure('trustee_test-vcek-invalid-new.der', 'ask_ark_milan.pem')).toMatch(/does not verify with SEV-Milan/);
  });
});

describe('readEndorsementKey', () => {
  it('reads the hwID raw (64 bytes), wrapped in an OCTET STRING, and truncated to 8 bytes on Turin', () => {
    const expected = Buffer.from(Array.from({ length: 64 }, (_, index) => index));
    expect(Buffer.from(endorsementKey('trustee_test-vcek-invalid-legacy.der').hwid ?? [])).toEqual(expected);
    expect(Buffer.from(endorsementKey('trustee_test-vcek-invalid-new.der').hwid ?? [])).toEqual(expected);
    expect(Buffer.from(endorsementKey('virtee_vcek_turin.der').hwid ?? []).toString('hex')).toBe('1e550a8ee5cf9f4d');
    expect(endorsementKey('trustee_test-vlek.der').hwid).toBeNull();
  });

  it('reads the kind, the issuing product and the TCB extensions, FMC included on Turin', () => {
    expect(endorsementKey('trustee_test-vcek.der')).toMatchObject({ kind: 'vcek', issuerProduct: 'Milan', tcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115 } });
    expect(endorsementKey('trustee_test-vlek.der')).toMatchObject({ kind: 'vlek', issuerProduct: 'Milan', tcb: { bootloader: 4, snp: 24, microcode: 217 } });
    expect(endorsementKey('virtee_vcek_turin.der')).toMatchObject({ kind: 'vcek', issuerProduct: 'Turin', tcb: { fmc: 0, bootloader: 0, tee: 0, snp: 0, microcode: 9 } });
  });

  it('says why bytes are not a certificate', () => {
    const read = readEndorsementKey(new Uint8Array([1, 2, 3]));
    expect(read.ok).toBe(false);
  });
});
