import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createIoKeyPair, decryptInEnclave, encryptToEnclave, ioKeyReportData } from './io-channel.js';

describe('I/O encryption to an enclave', () => {
  const enclave = createIoKeyPair();
  const update = new Uint8Array(randomBytes(4096));

  it('opens in the enclave for the same round context', () => {
    const envelope = encryptToEnclave(enclave.publicKey, update, 'job-1/round-1/clinic-a');
    expect(decryptInEnclave(enclave, envelope, 'job-1/round-1/clinic-a')).toEqual(update);
    expect(envelope.byteLength).toBe(update.byteLength + 32 + 12 + 16);
  });

  it('binds SHA-256 of the public key as report data', () => {
    expect(ioKeyReportData(enclave.publicKey)).toBe(createHash('sha256').update(enclave.publicKey).digest('hex'));
  });

  it('does not open for another round, another enclave key, or altered bytes', () => {
    const envelope = encryptToEnclave(enclave.publicKey, update, 'job-1/round-1/clinic-a');
    expect(() => decryptInEnclave(enclave, envelope, 'job-1/round-2/clinic-a')).toThrow(expect.objectContaining({ code: 'TEE_IO_DECRYPT_FAILED' }));
    expect(() => decryptInEnclave(createIoKeyPair(), envelope, 'job-1/round-1/clinic-a')).toThrow(expect.objectContaining({ code: 'TEE_IO_DECRYPT_FAILED' }));
    fc.assert(
      fc.property(fc.nat(envelope.byteLength - 1), fc.integer({ min: 1, max: 255 }), (index, mask) => {
        const altered = new Uint8Array(envelope);
        altered[index] ^= mask;
        expect(() => decryptInEnclave(enclave, altered, 'job-1/round-1/clinic-a')).toThrow();
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a public key that is not 32 bytes', () => {
    expect(() => encryptToEnclave(new Uint8Array(31), update, 'x')).toThrow(expect.objectContaining({ code: 'TEE_IO_KEY_INVALID' }));
  });
});
