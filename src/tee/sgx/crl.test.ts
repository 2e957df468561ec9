import { describe, expect, it } from 'vitest';
import { sgxVector } from '../../../test/vectors/tee/sgx-dcap/vectors.js';
import { certificatesFromPem } from './certificate.js';
import { crlProblem, parseCrl } from './crl.js';
import { parseSgxQuote, quoteBytesOf } from './quote.js';

const at = new Date('2025-08-15T05:41:26Z');

function automataChain() {
  const quote = parseSgxQuote(quoteBytesOf(sgxVector('automata_quotev3.hex')));
  if ('error' in quote) throw new Error(quote.error);
  const certificates = certificatesFromPem(quote.pckChainPem);
  if ('error' in certificates) throw new Error(certificates.error);
  return certificates;
}

describe('CRLs', () => {
  it("reads the Platform CA CRL's 44 revoked serials, none of them the quote's leaf", () => {
    const crl = parseCrl(sgxVector('automata_0825_platform_crl.der'));
    if ('error' in crl) throw new Error(crl.error);
    expect(crl.revoked.size).toBe(44);
    const [leaf, platformCa] = automataChain();
    expect(crlProblem(crl, platformCa, [leaf], at, 'PCK CA CRL')).toBeNull();
  });

  it('refuses a certificate whose serial the CRL lists', () => {
    const crl = parseCrl(sgxVector('automata_0825_platform_crl.der'));
    if ('error' in crl) throw new Error(crl.error);
    const [leaf, platformCa] = automataChain();
    const [revokedSerial] = crl.revoked;
    const revokedLeaf = { ...leaf, serial: revokedSerial };
    expect(crlProblem(crl, platformCa, [revokedLeaf], at, 'PCK CA CRL')).toBe(`the PCK CA CRL revokes certificate serial ${revokedSerial}`);
  });

  it('refuses a CRL outside its window, one with a flipped byte, and one signed by another CA', () => {
    const der = sgxVector('automata_0825_platform_crl.der');
    const crl = parseCrl(der);
    if ('error' in crl) throw new Error(crl.error);
    const [leaf, platformCa, root] = automataChain();
    expect(crlProblem(crl, platformCa, [leaf], new Date('2025-09-14T05:41:27Z'), 'PCK CA CRL')).toMatch(/stale/);
    expect(crlProblem(crl, platformCa, [leaf], new Date('2025-08-15T05:41:25Z'), 'PCK CA CRL')).toMatch(/after the check time/);
    const tampered = Uint8Array.from(der);
    tampered[tampered.length - 3] ^= 1;
    const parsedTampered = parseCrl(tampered);
    if ('error' in parsedTampered) throw new Error(parsedTampered.error);
    expect(crlProblem(parsedTampered, platformCa, [leaf], at, 'PCK CA CRL')).toMatch(/signature does not verify/);
    expect(crlProblem(crl, root, [platformCa], at, 'Root CA CRL')).toMatch(/not issued by 'Intel SGX Root CA'/);
  });

  it('says what is wrong with bytes that are no CRL', () => {
    expect(parseCrl(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]))).toEqual({ error: 'not a DER certificate revocation list' });
    expect(parseCrl(new Uint8Array(0))).toEqual({ error: 'not a DER certificate revocation list' });
  });
});
