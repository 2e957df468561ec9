import { InvalidInputError } from '../../core/index.js';
import type { EncryptedData } from './encrypted-data.js';
import { HeCiphertextError, HeKeyError, HeMismatchError, HeOperationError } from './errors.js';
import { checkKeyBinding, type EvaluationKeys, type ParticipantKeys } from './keys.js';
import { levelBits, topLevel, type EncryptionParams } from './params.js';
import {
  SealRuntime,
  checkSealHeader,
  isWasmAbort,
  maxCiphertextBytes,
  type ContextBundle,
  type SealCiphertext,
} from './seal.js';

/** A plaintext vector as callers hand it over. */
export type NumericInput = readonly number[] | Float32Array | Float64Array;

/** Options of `HomomorphicEncryption.encrypt`. */
export interface EncryptOptions {
  /**
   * SEAL chain index to encrypt at: the top data level (default) keeps every multiplication; a lower level gives a
   * smaller ciphertext that can still be added (see `sumLevel`).
   */
  level?: number;
}

type SealLib = SealRuntime['lib'];
type Encryptor = ReturnType<SealLib['Encryptor']>;
type Decryptor = ReturnType<SealLib['Decryptor']>;
type RelinKeys = ReturnType<SealLib['RelinKeys']>;

/** SEAL objects built from the keys in one runtime; rebuilt if that runtime aborts. */
interface Session {
  readonly runtime: SealRuntime;
  readonly bundle: ContextBundle;
  readonly encryptor: Encryptor;
  readonly decryptor: Decryptor | undefined;
  readonly relinKeys: RelinKeys;
}

/** Scales within this relative distance are the same scale (SEAL compares them as doubles too). */
const SCALE_TOLERANCE = 1e-9;

/**
 * CKKS encryption of real vectors (Cheon, Kim, Kim & Song 2017) on Microsoft SEAL 4 via node-seal. Long vectors are
 * packed N/2 values per ciphertext. With a participant's secret key it encrypts in SEAL's seeded symmetric mode (half
 * the bytes, SEAL examples/7_serialization.cpp) and decrypts; with the coordinator's evaluation keys it encrypts under
 * the public key and computes, but cannot decrypt.
 */
export class HomomorphicEncryption {
  private current: Session | undefined;
  private secret: Uint8Array | undefined;
  private disposed = false;
  private readonly keys: EvaluationKeys;

  private constructor(keys: ParticipantKeys | EvaluationKeys) {
    checkKeyBinding(keys);
    const { jobId, keyId, generation, params, paramsHash, publicKey, relinKeys } = keys;
    this.keys = { kind: 'evaluation', jobId, keyId, generation, params, paramsHash, publicKey, relinKeys };
    // A copy, so that the module can be rebuilt after an abort and `dispose` can zero it without touching the caller's.
    if (keys.kind === 'participant') this.secret = keys.secretKey.slice();
  }

  /** An instance for a job key: participant keys can decrypt, evaluation keys cannot. */
  static async create(keys: ParticipantKeys | EvaluationKeys): Promise<HomomorphicEncryption> {
    if (keys.kind === 'evaluation' && 'secretKey' in keys) {
      throw new HeKeyError('HE_KEY_INVALID', 'evaluation keys must not carry a secret key; build them with evaluationKeysOf');
    }
    const he = new HomomorphicEncryption(keys);
    await he.session();
    return he;
  }

  /** The encryption parameters. */
  get params(): EncryptionParams {
    return this.keys.params;
  }

  /** sha256 tag of the parameters, carried by every ciphertext. */
  get paramsHash(): string {
    return this.keys.paramsHash;
  }

  /** Id of the job key, carried by every ciphertext. */
  get keyId(): string {
    return this.keys.keyId;
  }

  /** Values per ciphertext (N/2). */
  get slotCount(): number {
    return this.keys.params.polyModulusDegree / 2;
  }

  /** Whether this instance holds the secret key. */
  get canDecrypt(): boolean {
    return this.secret !== undefined;
  }

  /** Encrypts a vector into ceil(length / slots) ciphertexts; symmetric seeded mode with a secret key, public-key mode otherwise. */
  async encrypt(values: NumericInput, options: EncryptOptions = {}): Promise<EncryptedData> {
    const s = await this.session();
    const { params } = this.keys;
    const level = options.level ?? topLevel(params);
    if (!Number.isInteger(level) || level < 0 || level > topLevel(params)) {
      throw new InvalidInputError('HE_INPUT_INVALID', `level ${level} is not a data level of these parameters (0..${topLevel(params)})`, { level });
    }
    checkRange(values, params, level);
    const { lib } = s.runtime;
    const { encoder, evaluator, scale, parmsIds } = s.bundle;
    const slots = this.slotCount;
    const chunk = new Float64Array(slots);
    const ciphertexts: Uint8Array[] = [];
    s.runtime.guard(() => {
      for (let start = 0; start < values.length; start += slots) {
        chunk.fill(0);
        const end = Math.min(values.length, start + slots);
        for (let i = start; i < end; i++) chunk[i - start] = values[i];
        const plain = encoder.encode(chunk, scale) as ReturnType<SealLib['PlainText']>;
        try {
          // SEAL encrypts a CKKS plaintext at the level of its parms_id, so switching the plaintext down is all it takes.
          if (level < topLevel(params)) evaluator.plainModSwitchTo(plain, parmsIds[level], plain);
          ciphertexts.push(this.encryptPlain(s, plain, lib));
        } finally {
          plain.delete();
        }
      }
    });
    chunk.fill(0);
    return this.wrap(values.length, ciphertexts);
  }

  private encryptPlain(s: Session, plain: ReturnType<SealLib['PlainText']>, lib: SealLib): Uint8Array {
    if (this.secret !== undefined) {
      const seeded = s.encryptor.encryptSymmetricSerializable(plain);
      try {
        return seeded.saveArray(lib.ComprModeType.zstd);
      } finally {
        seeded.delete();
      }
    }
    const cipher = s.encryptor.encrypt(plain) as SealCiphertext;
    try {
      return cipher.saveArray(lib.ComprModeType.zstd);
    } finally {
      cipher.delete();
    }
  }

  /** Decrypts to the original length; needs the secret key (`HE_KEY_MISSING` otherwise). */
  async decrypt(data: EncryptedData): Promise<Float64Array> {
    const s = await this.session();
    const { decryptor } = s;
    if (decryptor === undefined) {
      throw new HeKeyError('HE_KEY_MISSING', `this instance holds only the evaluation keys of ${this.keyId}; decrypt on a participant that holds the secret key`);
    }
    this.check(data, 'decrypt');
    const out = new Float64Array(data.length);
    const slots = this.slotCount;
    data.ciphertexts.forEach((bytes, index) => {
      const cipher = this.load(s, bytes, index);
      s.runtime.guard(() => {
        const plain = decryptor.decrypt(cipher) as ReturnType<SealLib['PlainText']>;
        try {
          const decoded = s.bundle.encoder.decode(plain);
          const start = index * slots;
          out.set(decoded.subarray(0, Math.min(slots, data.length - start)), start);
          decoded.fill(0);
        } finally {
          plain.delete();
          cipher.delete();
        }
      });
    });
    return out;
  }

  /** Slot-wise sum of two encrypted vectors of the same length, key and parameters. */
  async add(a: EncryptedData, b: EncryptedData): Promise<EncryptedData> {
    return this.sum([a, b]);
  }

  /** Slot-wise sum of many encrypted vectors: ciphertext additions only, so evaluation keys suffice. */
  async sum(list: readonly EncryptedData[]): Promise<EncryptedData> {
    if (list.length === 0) throw new InvalidInputError('HE_INPUT_INVALID', 'nothing to add: the list of encrypted vectors is empty');
    const s = await this.session();
    list.forEach((d, i) => this.check(d, `operand ${i}`));
    const length = sameLength(list);
    const ciphertexts = list[0].ciphertexts.map((_, index) => {
      const acc = this.load(s, list[0].ciphertexts[index], index);
      try {
        for (let j = 1; j < list.length; j++) {
          const next = this.load(s, list[j].ciphertexts[index], index);
          s.runtime.guard(() => {
            try {
              this.align(s, acc, next);
              s.bundle.evaluator.add(acc, next, acc);
            } finally {
              next.delete();
            }
          });
        }
        return s.runtime.guard(() => acc.saveArray(s.runtime.lib.ComprModeType.zstd));
      } finally {
        if (s.runtime.alive) acc.delete();
      }
    });
    return this.wrap(length, ciphertexts);
  }

  /**
   * Slot-wise product with another encrypted vector (multiply, relinearise, rescale) or with a plaintext scalar or
   * vector (multiply, rescale). Each product uses one level (SEAL examples/5_ckks_basics.cpp).
   */
  async multiply(a: EncryptedData, b: EncryptedData | number | NumericInput): Promise<EncryptedData> {
    const s = await this.session();
    this.check(a, 'left operand');
    if (typeof b === 'number' || isNumeric(b)) {
      if (typeof b !== 'number' && b.length !== a.length) {
        throw new InvalidInputError('HE_LENGTH_MISMATCH', `cannot multiply ${a.length} encrypted values by ${b.length} plain ones`, { left: a.length, right: b.length });
      }
      checkRange(typeof b === 'number' ? [b] : b, this.params, topLevel(this.params));
      return this.multiplyPlain(s, a, b);
    }
    this.check(b, 'right operand');
    const length = sameLength([a, b]);
    const ciphertexts = a.ciphertexts.map((bytes, index) => {
      const x = this.load(s, bytes, index);
      const y = this.load(s, b.ciphertexts[index], index);
      return s.runtime.guard(() => {
        try {
          this.align(s, x, y);
          this.checkDepth(x);
          s.bundle.evaluator.multiply(x, y, x);
          s.bundle.evaluator.relinearize(x, s.relinKeys, x);
          s.bundle.evaluator.rescaleToNext(x, x);
          return x.saveArray(s.runtime.lib.ComprModeType.zstd);
        } finally {
          x.delete();
          y.delete();
        }
      });
    });
    return this.wrap(length, ciphertexts);
  }

  private multiplyPlain(s: Session, a: EncryptedData, b: number | NumericInput): EncryptedData {
    const slots = this.slotCount;
    const chunk = new Float64Array(slots);
    const ciphertexts = a.ciphertexts.map((bytes, index) => {
      const x = this.load(s, bytes, index);
      return s.runtime.guard(() => {
        if (typeof b === 'number') chunk.fill(b);
        else {
          chunk.fill(0);
          for (let i = index * slots, end = Math.min(b.length, (index + 1) * slots); i < end; i++) chunk[i - index * slots] = b[i];
        }
        const plain = s.bundle.encoder.encode(chunk, s.bundle.scale) as ReturnType<SealLib['PlainText']>;
        try {
          this.checkDepth(x);
          s.bundle.evaluator.plainModSwitchTo(plain, x.parmsId, plain);
          s.bundle.evaluator.multiplyPlain(x, plain, x);
          s.bundle.evaluator.rescaleToNext(x, x);
          return x.saveArray(s.runtime.lib.ComprModeType.zstd);
        } finally {
          plain.delete();
          x.delete();
        }
      });
    });
    return this.wrap(a.length, ciphertexts);
  }

  /** Releases the SEAL objects and zeroes this instance's copy of the secret key. */
  dispose(): void {
    this.disposed = true;
    this.secret?.fill(0);
    this.secret = undefined;
    this.release();
  }

  private release(): void {
    const s = this.current;
    this.current = undefined;
    if (s === undefined || !s.runtime.alive) return;
    s.encryptor.delete();
    s.decryptor?.delete();
    s.relinKeys.delete();
  }

  private async session(): Promise<Session> {
    if (this.disposed) throw new HeKeyError('HE_KEY_MISSING', `this HomomorphicEncryption instance for key ${this.keyId} was disposed; create a new one`);
    if (this.current !== undefined && this.current.runtime.alive) return this.current;
    this.current = undefined;
    const runtime = await SealRuntime.shared();
    this.current = this.build(runtime);
    return this.current;
  }

  private build(runtime: SealRuntime): Session {
    const bundle = runtime.context(this.keys.params);
    const { lib } = runtime;
    const { context } = bundle;
    const loadKey = <T extends { loadArray(c: typeof context, b: Uint8Array): void; delete(): void }>(make: () => T, bytes: Uint8Array, what: string): T => {
      const key = make();
      try {
        checkSealHeader(bytes, 64 * maxCiphertextBytes(this.keys.params), what);
        runtime.guard(() => key.loadArray(context, bytes));
        return key;
      } catch (error) {
        if (runtime.alive) key.delete();
        throw new HeKeyError('HE_KEY_INVALID', `the ${what} of key ${this.keyId} does not load: ${(error as Error).message}; obtain it again from the key holder`);
      }
    };
    const publicKey = loadKey(() => lib.PublicKey(), this.keys.publicKey, 'public key');
    const relinKeys = loadKey(() => lib.RelinKeys(), this.keys.relinKeys, 'relinearisation keys');
    const secretKey = this.secret === undefined ? undefined : loadKey(() => lib.SecretKey(), this.secret, 'secret key');
    try {
      return runtime.guard(() => ({
        runtime,
        bundle,
        encryptor: lib.Encryptor(context, publicKey, secretKey),
        decryptor: secretKey === undefined ? undefined : lib.Decryptor(context, secretKey),
        relinKeys,
      }));
    } finally {
      // Encryptor and Decryptor keep their own copies of the keys.
      if (runtime.alive) {
        publicKey.delete();
        secretKey?.delete();
      }
    }
  }

  private wrap(length: number, ciphertexts: Uint8Array[]): EncryptedData {
    return { paramsHash: this.keys.paramsHash, keyId: this.keys.keyId, length, ciphertexts };
  }

  private check(data: EncryptedData, what: string): void {
    if (data.paramsHash !== this.keys.paramsHash) {
      throw new HeMismatchError('HE_PARAMS_MISMATCH', `${what} was encrypted under other parameters (${data.paramsHash.slice(0, 12)}…, this instance ${this.keys.paramsHash.slice(0, 12)}…)`, {
        expected: this.keys.paramsHash,
        actual: data.paramsHash,
      });
    }
    if (data.keyId !== this.keys.keyId) {
      throw new HeMismatchError('HE_KEY_MISMATCH', `${what} was encrypted under key ${data.keyId}, not ${this.keys.keyId} of job ${this.keys.jobId}; was the job key rotated?`, {
        expected: this.keys.keyId,
        actual: data.keyId,
      });
    }
    const expected = Math.ceil(data.length / this.slotCount);
    if (!Number.isInteger(data.length) || data.length < 0 || data.ciphertexts.length !== expected) {
      throw new HeCiphertextError(`${what} lists ${data.ciphertexts.length} ciphertexts for ${data.length} values; ${expected} expected`);
    }
  }

  /** Loads one serialised ciphertext; damage is `HE_CIPHERTEXT_CORRUPT`, and a module abort is survived by rebuilding the runtime. */
  private load(s: Session, bytes: Uint8Array, index: number): SealCiphertext {
    checkSealHeader(bytes, maxCiphertextBytes(this.keys.params), `ciphertext ${index}`);
    const { runtime } = s;
    const cipher = runtime.lib.CipherText();
    try {
      runtime.guard(() => cipher.loadArray(s.bundle.context, bytes));
    } catch (error) {
      if (isWasmAbort(error)) {
        throw new HeCiphertextError(`ciphertext ${index} is damaged: SEAL aborted while loading it (the SEAL module is rebuilt on next use)`, { index });
      }
      cipher.delete();
      throw new HeCiphertextError(`ciphertext ${index} is damaged: ${(error as Error).message}`, { index });
    }
    const valid = runtime.guard(() => cipher.size === 2 && cipher.isNttForm && cipher.scale > 0 && Number.isFinite(cipher.scale));
    if (!valid) {
      cipher.delete();
      throw new HeCiphertextError(`ciphertext ${index} is not a fresh or relinearised CKKS ciphertext`, { index });
    }
    return cipher;
  }

  /** Brings two ciphertexts to the lower of their levels and checks that their scales agree. */
  private align(s: Session, a: SealCiphertext, b: SealCiphertext): void {
    const { evaluator } = s.bundle;
    if (a.coeffModulusSize > b.coeffModulusSize) evaluator.cipherModSwitchTo(a, b.parmsId, a);
    else if (b.coeffModulusSize > a.coeffModulusSize) evaluator.cipherModSwitchTo(b, a.parmsId, b);
    if (Math.abs(a.scale - b.scale) > SCALE_TOLERANCE * a.scale) {
      throw new HeOperationError('HE_SCALE_MISMATCH', `operands have scales 2^${Math.log2(a.scale).toFixed(3)} and 2^${Math.log2(b.scale).toFixed(3)}; combine values that went through the same number of multiplications`);
    }
  }

  private checkDepth(cipher: SealCiphertext): void {
    if (cipher.coeffModulusSize <= 1) {
      throw new HeOperationError('HE_DEPTH_EXHAUSTED', `no level left to rescale a product; use parameters with more primes (${JSON.stringify(this.params.coeffModulusBits)} allow ${topLevel(this.params)} multiplications)`);
    }
  }
}

function isNumeric(value: unknown): value is NumericInput {
  return Array.isArray(value) || value instanceof Float32Array || value instanceof Float64Array;
}

function sameLength(list: readonly EncryptedData[]): number {
  const length = list[0].length;
  const other = list.find((d) => d.length !== length);
  if (other !== undefined) {
    throw new InvalidInputError('HE_LENGTH_MISMATCH', `encrypted vectors of ${length} and ${other.length} values cannot be combined`, { lengths: [length, other.length] });
  }
  return length;
}

/**
 * CKKS wraps silently when |value| * scale approaches the modulus; refuse such values up front. The bound keeps one
 * bit of sign and leaves the first prime's excess over the scale as headroom.
 */
function checkRange(values: NumericInput, params: EncryptionParams, level: number): void {
  const bound = 2 ** (levelBits(params, level) - params.scaleBits - 1);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v) || Math.abs(v) >= bound) {
      throw new InvalidInputError('HE_VALUE_OUT_OF_RANGE', `value ${v} at index ${i} is not finite or not below ${bound} in magnitude, the limit of these parameters at level ${level}`, {
        index: i,
        value: v,
        bound,
      });
    }
  }
}
