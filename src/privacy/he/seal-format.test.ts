import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CipherNexusError } from '../../core/index.js';
import { PRESETS } from './params.js';
import { SealRuntime, type ContextBundle } from './seal.js';
import { parmsIdHex, parseSealCiphertext, parseSealPlaintext, sealCiphertextBytes, writeSealCiphertext, writeSealPlaintext } from './seal-format.js';

let runtime: SealRuntime;
let bundle: ContextBundle;
let samples: { secretKey: Uint8Array; publicKey: Uint8Array; plaintext: Uint8Array; ciphertext: Uint8Array; zstd: Uint8Array };

beforeAll(async () => {
  runtime = await SealRuntime.shared();
  bundle = runtime.context(PRESETS.n8192);
  const { lib } = runtime;
  const none = lib.ComprModeType.none;
  const generator = lib.KeyGenerator(bundle.context);
  const secret = generator.secretKey();
  const pub = generator.createPublicKey();
  const plain = bundle.encoder.encode(Float64Array.from([1.5, -2, 3]), 2 ** 40) as ReturnType<typeof lib.PlainText>;
  const encryptor = lib.Encryptor(bundle.context, pub);
  const cipher = encryptor.encrypt(plain) as ReturnType<typeof lib.CipherText>;
  samples = {
    secretKey: secret.saveArray(none),
    publicKey: pub.saveArray(none),
    plaintext: plain.saveArray(none),
    ciphertext: cipher.saveArray(none),
    zstd: cipher.saveArray(lib.ComprModeType.zstd),
  };
  for (const o of [generator, secret, pub, plain, encryptor, cipher]) o.delete();
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof CipherNexusError ? error.code : `not a CipherNexusError: ${String(error)}`;
  }
  return undefined;
}

describe('SEAL 4.1 serialisation (uncompressed)', () => {
  it('round-trips real SEAL ciphertexts and public keys byte for byte, with the metadata SEAL reports', () => {
    const { lib } = runtime;
    for (const [bytes, kind] of [
      [samples.ciphertext, 'ciphertext'],
      [samples.publicKey, 'public key'],
    ] as const) {
      const parsed = parseSealCiphertext(bytes, kind);
      expect(Buffer.from(writeSealCiphertext(parsed)).equals(Buffer.from(bytes))).toBe(true);
      expect(parsed.size).toBe(2);
      expect(parsed.nttForm).toBe(true);
      expect(parsed.polyModulusDegree).toBe(8192);
      expect(bytes.length).toBe(sealCiphertextBytes(2, parsed.coeffModulusSize, 8192));
    }
    const cipher = parseSealCiphertext(samples.ciphertext);
    expect(cipher.coeffModulusSize).toBe(3);
    expect(cipher.scale).toBe(2 ** 40);
    expect(cipher.parmsId).toBe(parmsIdHex(bundle.context.firstParmsId.values));
    const key = parseSealCiphertext(samples.publicKey);
    expect(key.coeffModulusSize).toBe(4);
    expect(key.parmsId).toBe(parmsIdHex(bundle.context.keyParmsId.values));
    // SEAL loads what was written here and saves the same bytes again.
    const loaded = lib.CipherText();
    loaded.loadArray(bundle.context, writeSealCiphertext(cipher));
    expect(Buffer.from(loaded.saveArray(lib.ComprModeType.none)).equals(Buffer.from(samples.ciphertext))).toBe(true);
    loaded.delete();
  });

  it('round-trips real SEAL plaintexts and secret keys, and SEAL decodes a plaintext written here', () => {
    const { lib } = runtime;
    const secret = parseSealPlaintext(samples.secretKey, 'secret key');
    expect(Buffer.from(writeSealPlaintext(secret)).equals(Buffer.from(samples.secretKey))).toBe(true);
    expect(secret.data.length).toBe(4 * 8192);
    expect(secret.scale).toBe(1);
    const plain = parseSealPlaintext(samples.plaintext);
    const bytes = writeSealPlaintext(plain);
    expect(Buffer.from(bytes).equals(Buffer.from(samples.plaintext))).toBe(true);
    // Header, parms_id, coefficient count, scale, the data's own header and count, then the words.
    expect(bytes.length).toBe(16 + 32 + 8 + 8 + 16 + 8 + 8 * 3 * 8192);
    const loaded = lib.PlainText();
    loaded.loadArray(bundle.context, bytes);
    const decoded = bundle.encoder.decode(loaded);
    expect(Math.abs(decoded[0] - 1.5) + Math.abs(decoded[1] + 2) + Math.abs(decoded[2] - 3)).toBeLessThan(1e-6);
    loaded.delete();
  });

  it('writes a coefficient-form ciphertext that SEAL loads and transforms to NTT form', () => {
    const { lib } = runtime;
    const cipher = parseSealCiphertext(samples.ciphertext);
    // The constant polynomial 5 in both polynomials: 5 in the first word of each prime's block.
    const coefficients = new BigUint64Array(cipher.data.length);
    for (let block = 0; block < 2 * cipher.coeffModulusSize; block++) coefficients[block * 8192] = 5n;
    const loaded = lib.CipherText();
    loaded.loadArray(bundle.context, writeSealCiphertext({ ...cipher, nttForm: false, data: coefficients }));
    expect(loaded.isNttForm).toBe(false);
    bundle.evaluator.cipherTransformToNtt(loaded, loaded);
    // The NTT of the constant polynomial 5 is 5 at every evaluation point.
    const ntt = parseSealCiphertext(loaded.saveArray(lib.ComprModeType.none));
    expect(ntt.nttForm).toBe(true);
    expect(ntt.data.every((w) => w === 5n)).toBe(true);
    loaded.delete();
  });

  it('refuses compressed, truncated, extended and relabelled bytes with HE_CIPHERTEXT_CORRUPT', () => {
    const good = samples.ciphertext;
    const edits: Uint8Array[] = [
      samples.zstd,
      good.subarray(0, 100),
      good.subarray(0, good.length - 8),
      Uint8Array.from([...good.subarray(0, 200), 0]),
      new Uint8Array(0),
    ];
    for (const at of [0, 1, 2, 3, 5, 6, 8, 14, 48, 49, 57, 65, 81, 89, 97, 105]) {
      const bad = good.slice();
      bad[at] ^= 0x40;
      edits.push(bad);
    }
    for (const bytes of edits) expect(codeOf(() => parseSealCiphertext(bytes))).toBe('HE_CIPHERTEXT_CORRUPT');
    expect(codeOf(() => parseSealPlaintext(samples.ciphertext))).toBe('HE_CIPHERTEXT_CORRUPT');
  });

  it('property: a byte flip anywhere is a clean HE_CIPHERTEXT_CORRUPT or a parse of the same shape, never another error', () => {
    const good = samples.ciphertext;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const bad = good.slice();
        bad[at] ^= mask;
        const code = codeOf(() => {
          const parsed = parseSealCiphertext(bad);
          expect(parsed.data.length).toBe(2 * 3 * 8192);
        });
        expect([undefined, 'HE_CIPHERTEXT_CORRUPT']).toContain(code);
      }),
      { numRuns: 300 },
    );
  });
});
