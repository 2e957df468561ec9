import sealModule from 'node-seal/throws_wasm_node_umd.js';
import { HeCiphertextError, HeParamsError } from './errors.js';
import { paramsHash, topLevel, type EncryptionParams } from './params.js';

// node-seal ships a UMD bundle whose .d.ts declares an ES default export. Node's CommonJS interop makes the default
// import module.exports itself, the factory, while TypeScript sees a namespace with `.default`: one level off.
type SealLibrary = Awaited<ReturnType<(typeof sealModule)['default']>>;
const loadSealLibrary = sealModule as unknown as () => Promise<SealLibrary>;

/** node-seal object types this folder uses internally; none of them leaves the folder's public API. */
export type SealCiphertext = ReturnType<SealLibrary['CipherText']>;
export type SealPlaintext = ReturnType<SealLibrary['PlainText']>;
export type SealContext = ReturnType<SealLibrary['Context']>;
export type SealEncoder = ReturnType<SealLibrary['CKKSEncoder']>;
export type SealEvaluator = ReturnType<SealLibrary['Evaluator']>;
export type SealParmsId = SealContext['firstParmsId'];

/** A SEAL context for one parameter set, with its encoder and evaluator: built once per runtime and reused. */
export interface ContextBundle {
  readonly params: EncryptionParams;
  readonly paramsHash: string;
  readonly scale: number;
  readonly context: SealContext;
  readonly encoder: SealEncoder;
  readonly evaluator: SealEvaluator;
  /** parms_id of each data level, indexed by SEAL's chain index (0 = last level). */
  readonly parmsIds: readonly SealParmsId[];
}

/** True when `error` is the WebAssembly module aborting (emscripten abort), after which the module is unusable. */
export function isWasmAbort(error: unknown): boolean {
  // emscripten's abort() throws a WebAssembly.RuntimeError whose message starts with "Aborted(".
  return error instanceof Error && (error.name === 'RuntimeError' || error.message.startsWith('Aborted('));
}

/**
 * One instance of the SEAL WebAssembly module and the contexts built in it. SEAL 4.1 compiled to wasm aborts the whole
 * module on some malformed inputs (measured here: a SEAL header whose size field disagrees with the buffer, and some
 * damaged zstd blocks), so an aborted runtime is marked dead and the next `shared()` call builds a fresh one.
 */
export class SealRuntime {
  private static current: Promise<SealRuntime> | undefined;
  private readonly contexts = new Map<string, ContextBundle>();
  private dead = false;

  private constructor(readonly lib: SealLibrary) {}

  /** This thread's runtime, loading the module on first use or after an abort. */
  static async shared(): Promise<SealRuntime> {
    const existing = SealRuntime.current;
    if (existing !== undefined) {
      const runtime = await existing;
      if (runtime.alive) return runtime;
    }
    const next = loadSealLibrary().then((lib) => new SealRuntime(lib));
    SealRuntime.current = next;
    // A failed load must not be cached, or every later call would repeat the failure.
    next.catch(() => {
      if (SealRuntime.current === next) SealRuntime.current = undefined;
    });
    return next;
  }

  /** False once the module has aborted; objects created in it must then not be touched, not even deleted. */
  get alive(): boolean {
    return !this.dead;
  }

  /** Records an abort seen by a caller so that the next `shared()` call replaces this runtime. */
  markAborted(): void {
    this.dead = true;
    this.contexts.clear();
  }

  /** The context, encoder and evaluator for `params`, created on first use. */
  context(params: EncryptionParams): ContextBundle {
    const hash = paramsHash(params);
    const cached = this.contexts.get(hash);
    if (cached !== undefined) return cached;
    const context = this.guard(() => {
      try {
        return this.buildContext(params);
      } catch (error) {
        if (isWasmAbort(error)) throw error;
        throw new HeParamsError('HE_PARAMS_INVALID', `SEAL cannot build a context for ${JSON.stringify(params)}: ${(error as Error).message}`, {
          params,
        });
      }
    });
    const { lib } = this;
    const parmsIds: SealParmsId[] = [];
    let data = context.firstContextData;
    for (let level = topLevel(params); level >= 0; level--) {
      parmsIds[level] = data.parmsId;
      if (level > 0) data = data.nextContextData;
    }
    const bundle: ContextBundle = {
      params,
      paramsHash: hash,
      scale: 2 ** params.scaleBits,
      context,
      encoder: lib.CKKSEncoder(context),
      evaluator: lib.Evaluator(context),
      parmsIds,
    };
    this.contexts.set(hash, bundle);
    return bundle;
  }

  private buildContext(params: EncryptionParams): SealContext {
    const { lib } = this;
    const parms = lib.EncryptionParameters(lib.SchemeType.ckks);
    const moduli = lib.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffModulusBits));
    try {
      parms.setPolyModulusDegree(params.polyModulusDegree);
      parms.setCoeffModulus(moduli);
      // tc128 makes SEAL itself refuse parameters beyond the HE Standard table, a second check behind checkParams.
      const context = lib.Context(parms, true, lib.SecurityLevel.tc128);
      if (!context.parametersSet()) {
        context.delete();
        throw new Error('parameters not set');
      }
      return context;
    } finally {
      moduli.delete();
      parms.delete();
    }
  }

  /** Calls `fn`; if the module aborts meanwhile, marks this runtime dead and rethrows the abort. */
  guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (isWasmAbort(error)) this.markAborted();
      throw error;
    }
  }
}

// SEAL 4 serialisation header (native/src/seal/serialization.h, SEALHeader): magic 0xA15E, header size 16, version
// major/minor, compression mode, two reserved bytes, then the total size including the header as a 64-bit integer.
const SEAL_MAGIC = 0xa15e;
const SEAL_HEADER_SIZE = 16;
const SEAL_MAJOR_VERSION = 4;
/** SEAL's compr_mode_type::zstd, the only mode this folder writes and therefore the only one it reads. */
export const SEAL_COMPR_ZSTD = 2;

/**
 * Checks a SEAL-serialised object's header before SEAL sees the bytes: the module aborts rather than throws when the
 * recorded size disagrees with the buffer, so that disagreement must never reach it.
 */
export function checkSealHeader(bytes: Uint8Array, maxBytes: number, what: string): void {
  if (bytes.length < SEAL_HEADER_SIZE) throw new HeCiphertextError(`${what}: ${bytes.length} bytes is shorter than a SEAL header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = view.getBigUint64(8, true);
  const problems = [
    view.getUint16(0, true) !== SEAL_MAGIC && 'bad magic',
    view.getUint8(2) !== SEAL_HEADER_SIZE && 'bad header size',
    view.getUint8(3) !== SEAL_MAJOR_VERSION && `SEAL version ${view.getUint8(3)}.x, expected ${SEAL_MAJOR_VERSION}.x`,
    view.getUint8(5) !== SEAL_COMPR_ZSTD && `compression mode ${view.getUint8(5)}, expected zstd`,
    view.getUint16(6, true) !== 0 && 'reserved bytes set',
    size !== BigInt(bytes.length) && `recorded size ${size} differs from the ${bytes.length} bytes received`,
    bytes.length > maxBytes && `${bytes.length} bytes is more than the ${maxBytes} these parameters allow`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new HeCiphertextError(`${what} is damaged: ${problems.join('; ')}`, { problems });
}

/** Upper bound on a serialised two-polynomial ciphertext of `params`: 64-bit words for every prime, plus slack for headers. */
export function maxCiphertextBytes(params: EncryptionParams): number {
  return 2 * params.polyModulusDegree * (params.coeffModulusBits.length - 1) * 8 + 4096;
}
