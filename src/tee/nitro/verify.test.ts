import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { forgeChain, forgeDocument, type ForgedChain } from '../../../test/support/nitro-document.js';
import type { EvidenceVerification } from '../evidence.js';
import { readCoseSign1 } from './cose-sign1.js';
import { readAttestationDocument } from './attestation-document.js';
import { fingerprint } from './certificate-chain.js';
import { AWS_NITRO_ROOT_G1_PEM, AWS_NITRO_ROOT_G1_SHA256, nitroEvidenceBytes, verifyNitroEvidence } from './index.js';

const VECTORS = new URL('../../../test/vectors/tee/nitro/', import.meta.url);
const TODAY = new Date('2026-12-04T12:00:00Z');

function sample(name: string): Uint8Array {
  return nitroEvidenceBytes(new Uint8Array(readFileSync(new URL(name, VECTORS))));
}

const SAMPLES = [
  { file: 'nitro_attestation.b64', issuedAt: 1725719859545, debug: false, pcr0: 'e72a46ca80a260fb' },
  { file: 'nitro_attestation_debug.b64', issuedAt: 1725719886508, debug: true, pcr0: '0'.repeat(96) },
  { file: 'evervault_valid-attestation-doc-bytes', issuedAt: 1665651482136, debug: false, pcr0: 'f4d48b81a460c991' },
  { file: 'evervault_debug-mode-attestation-doc-bytes', issuedAt: 1665582606081, debug: true, pcr0: '0'.repeat(96) },
  { file: 'evervault_valid-attestation-doc-base64', issuedAt: 1695049410860, debug: true, pcr0: '0'.repeat(96) },
];

const names = (verification: EvidenceVerification) => verification.checks.map((check) => check.name);
const detailOf = (verification: EvidenceVerification) => verification.checks.find((check) => !check.ok)?.detail ?? '';

/** A copy of `bytes` with the byte at `offset` changed by `mask`. */
function flipped(bytes: Uint8Array, offset: number, mask = 0xff): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[offset] ^= mask;
  return copy;
}

/** Where `part` lies in `whole`, for flipping bytes inside one field of a real document. */
function offsetOf(whole: Uint8Array, part: Uint8Array): number {
  const offset = Buffer.from(whole).indexOf(Buffer.from(part));
  if (offset < 0) throw new Error('part not found');
  return offset;
}

function documentOf(bytes: Uint8Array) {
  const message = readCoseSign1(bytes);
  if (!message.ok) throw new Error(message.detail);
  const document = readAttestationDocument(message.value.payload);
  if (!document.ok) throw new Error(document.detail);
  return document.value;
}

describe('verifyNitroEvidence on real documents', () => {
  it.each(SAMPLES)('$file is valid at its own timestamp, with its claims', ({ file, issuedAt, debug, pcr0 }) => {
    const verification = verifyNitroEvidence(sample(file), { at: new Date(issuedAt) });
    expect(verification.failed, detailOf(verification)).toBeNull();
    expect(verification.ok).toBe(true);
    expect(names(verification)).toEqual(['parse', 'root', 'chain', 'validity', 'signature', 'timestamp']);
    expect(verification.claims).toMatchObject({ kind: 'nitro', debug, issuedAt, tcb: { status: 'unknown' } });
    expect(verification.claims?.measurement.startsWith(pcr0)).toBe(true);
    expect(Object.keys(verification.claims?.measurements ?? {})).toEqual(Array.from({ length: 15 }, (_, index) => `PCR${index + 1}`));
  });

  it.each(SAMPLES)('$file is refused at validity today, naming the expired certificates', ({ file }) => {
    const verification = verifyNitroEvidence(sample(file), { at: TODAY });
    expect(verification.ok).toBe(false);
    expect(verification.failed).toBe('validity');
    expect(detailOf(verification)).toMatch(/certificate \(i-.*\) expired at/);
    expect(verification.claims).toBeNull();
  });

  it('gives nonce, user data and public key as hex, and null where the document has none', () => {
    const nitro = verifyNitroEvidence(sample('nitro_attestation.b64'), { at: new Date(1725719859545) }).claims;
    expect(nitro?.nonce).toBe('01'.repeat(1024));
    expect(nitro?.reportData).toBe('01'.repeat(1024));
    expect(nitro?.publicKey).toBe('01'.repeat(1024));
    const debug = verifyNitroEvidence(sample('evervault_debug-mode-attestation-doc-bytes'), { at: new Date(1665582606081) }).claims;
    expect(debug?.reportData).toBe(Buffer.from('hello, world!').toString('hex'));
    expect(debug?.publicKey).toBe(Buffer.from('my super secret key').toString('hex'));
    expect(debug?.nonce).toBeNull();
    const production = verifyNitroEvidence(sample('evervault_valid-attestation-doc-bytes'), { at: new Date(1665651482136) }).claims;
    expect(production?.nonce).toHaveLength(512);
    expect(production?.reportData).toBeNull();
    expect(production?.publicKey).toBeNull();
  });

  it("refuses blocky's self-signed document at parse: its unprotected header is null", () => {
    const verification = verifyNitroEvidence(sample('blocky_selfsigned_attestation.b64'), { at: new Date(1713379906 * 1000) });
    expect(verification.failed).toBe('parse');
    expect(detailOf(verification)).toContain('unprotected header is null');
  });

  it('refuses every real document when another root is pinned in place of the AWS root', () => {
    const selfSigned = new X509Certificate(readFileSync(new URL('blocky_selfsigned_cert.der', VECTORS))).toString();
    for (const { file, issuedAt } of SAMPLES) {
      const verification = verifyNitroEvidence(sample(file), { at: new Date(issuedAt), root: selfSigned });
      expect(verification.failed).toBe('root');
      expect(detailOf(verification)).toContain('not the pinned root');
    }
  });

  it('refuses a check time before the leaf was issued, at validity', () => {
    const verification = verifyNitroEvidence(sample('nitro_attestation.b64'), { at: new Date('2024-09-07T14:00:00Z') });
    expect(verification.failed).toBe('validity');
    expect(detailOf(verification)).toMatch(/certificate \(i-.*\) is not valid before 2024-09-07T14:37:36/);
  });

  it('refuses a document made after the check time, at timestamp', () => {
    // The leaf is valid from 14:37:36, the document made at 14:37:39.545.
    const verification = verifyNitroEvidence(sample('nitro_attestation.b64'), { at: new Date('2024-09-07T14:37:38Z') });
    expect(verification.failed).toBe('timestamp');
  });
});

describe('verifyNitroEvidence on tampered real documents', () => {
  const bytes = sample('nitro_attestation.b64');
  const at = new Date(1725719859545);
  const document = documentOf(bytes);

  it('refuses a flipped byte of the signature at signature', () => {
    const verification = verifyNitroEvidence(flipped(bytes, bytes.length - 10), { at });
    expect(verification.failed).toBe('signature');
    expect(names(verification)).toEqual(['parse', 'root', 'chain', 'validity', 'signature', 'timestamp']);
  });

  it('refuses a flipped byte of the signed body (PCR0, module_id) at signature', () => {
    const pcr0 = document.pcrs.get(0) as Uint8Array;
    expect(verifyNitroEvidence(flipped(bytes, offsetOf(bytes, pcr0) + 5), { at }).failed).toBe('signature');
    const moduleId = offsetOf(bytes, Buffer.from(document.moduleId));
    // One bit, so the text stays UTF-8 and the document still parses.
    expect(verifyNitroEvidence(flipped(bytes, moduleId + 3, 0x01), { at }).failed).toBe('signature');
  });

  it('refuses a flipped byte of the root at root, and of every other certificate at chain', () => {
    const certificates = [...document.cabundle, document.certificate];
    for (const [position, der] of certificates.entries()) {
      // Once in the certificate's own signature (the DER still reads), once in its signed body.
      for (const inside of [der.length - 5, Math.floor(der.length / 2)]) {
        const verification = verifyNitroEvidence(flipped(bytes, offsetOf(bytes, der) + inside), { at });
        expect(verification.failed, `certificate ${position} byte ${inside}: ${detailOf(verification)}`).toBe(position === 0 ? 'root' : 'chain');
      }
    }
  });

  it('never accepts nor throws on a document with any one byte flipped', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (offset, mask) => {
        const copy = new Uint8Array(bytes);
        copy[offset] ^= mask;
        const verification = verifyNitroEvidence(copy, { at });
        expect(verification.ok).toBe(false);
        expect(verification.claims).toBeNull();
        expect(verification.failed).not.toBeNull();
      }),
      { numRuns: 150 },
    );
  });

  it('never throws on random bytes or random cuts of a document, and names a failed check', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (random) => {
        const verification = verifyNitroEvidence(random, { at });
        expect(verification.ok).toBe(false);
        expect(verification.failed).toBe('parse');
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.uint8Array({ maxLength: 8 }), (cut, tail) => {
        const verification = verifyNitroEvidence(new Uint8Array([...bytes.subarray(0, cut), ...tail]), { at });
        expect(verification.ok).toBe(false);
        expect(verification.failed).not.toBeNull();
      }),
      { numRuns: 100 },
    );
  });
});

describe('verifyNitroEvidence on forged documents', () => {
  let chain: ForgedChain;
  let at: Date;
  beforeAll(async () => {
    chain = await forgeChain(new Date('2025-01-01T00:00:00Z'), new Date('2025-01-02T00:00:00Z'));
    at = new Date('2025-01-01T12:00:00Z');
  });

  it('refuses a well-formed document signed under another root at root, though the rest holds', () => {
    const verification = verifyNitroEvidence(forgeDocument(chain), { at });
    expect(verification.failed).toBe('root');
    expect(verification.checks.filter((check) => !check.ok).map((check) => check.name)).toEqual(['root']);
  });

  it('accepts the same document only when its own root is pinned', () => {
    const verification = verifyNitroEvidence(forgeDocument(chain), { at, root: chain.rootPem });
    expect(verification.failed, detailOf(verification)).toBeNull();
    expect(verification.claims).toMatchObject({ reportData: '010203', nonce: '07'.repeat(16), publicKey: null, debug: false });
  });

  it('refuses a timestamp in seconds at timestamp, saying so', () => {
    const seconds = Math.floor(chain.notBefore.getTime() / 1000) + 60;
    const verification = verifyNitroEvidence(forgeDocument(chain, { timestamp: seconds }), { at, root: chain.rootPem });
    expect(verification.failed).toBe('timestamp');
    expect(detailOf(verification)).toContain('seconds');
  });

  it('refuses a cabundle whose first entry is not the root at root, and one out of order at chain', () => {
    const noRoot = verifyNitroEvidence(forgeDocument(chain, { cabundle: [chain.intermediate] }), { at, root: chain.rootPem });
    expect(noRoot.failed).toBe('root');
    const reversed = verifyNitroEvidence(forgeDocument(chain, { cabundle: [chain.root, chain.leaf], certificate: chain.intermediate }), { at, root: chain.rootPem });
    expect(reversed.failed).toBe('chain');
  });

  it('refuses a document signed by a key other than the leaf at signature', async () => {
    const other = await forgeChain(chain.notBefore, chain.notAfter);
    const verification = verifyNitroEvidence(forgeDocument({ ...chain, leafKey: other.leafKey }), { at, root: chain.rootPem });
    expect(verification.failed).toBe('signature');
  });
});

describe('verifyNitroEvidence inputs', () => {
  it('pins the AWS root G1 that AWS publishes and the vectors hold', () => {
    const pem = readFileSync(new URL('aws-nitro-root-g1.pem', VECTORS), 'utf8');
    expect(fingerprint(new Uint8Array(new X509Certificate(AWS_NITRO_ROOT_G1_PEM).raw))).toBe(AWS_NITRO_ROOT_G1_SHA256);
    expect(fingerprint(new Uint8Array(new X509Certificate(pem).raw))).toBe(AWS_NITRO_ROOT_G1_SHA256);
  });

  it('throws a coded error for a check time that is not a date, or a root that is not a certificate', () => {
    const bytes = sample('nitro_attestation.b64');
    expect(() => verifyNitroEvidence(bytes, { at: new Date('not a date') })).toThrow(InvalidInputError);
    expect(() => verifyNitroEvidence(bytes, { at: new Date('not a date') })).toThrow(expect.objectContaining({ code: 'TEE_CHECK_TIME_INVALID' }));
    expect(() => verifyNitroEvidence(bytes, { at: TODAY, root: 'not a pem' })).toThrow(expect.objectContaining({ code: 'TEE_NITRO_ROOT_INVALID' }));
  });
});
