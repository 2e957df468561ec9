import type { EvidenceKind } from './evidence.js';

/** What an enclave may use: its memory ceiling and how long one call may take. */
export interface EnclaveResources {
  /** Heap ceiling, MiB (a simulated enclave's `--max-old-space-size`). */
  memoryMb: number;
  /** The longest a single `run`, `seal` or `unseal` may take before the enclave is treated as hung, ms. */
  callTimeoutMs: number;
}

/** What an enclave uses now, as it reports it. */
export interface EnclaveUsage {
  /** Its program's heap in use, bytes (against `memoryMb`). */
  heapUsedBytes: number;
  /** Its process's resident memory, bytes. */
  rssBytes: number;
}

/** Where an enclave is in its life. */
export type EnclaveState = 'allocated' | 'running' | 'exited' | 'destroyed';

/** A request to the program inside an enclave, or its answer: structured-clone data (strings, numbers, byte arrays, nested objects). */
export type EnclaveMessage = { op: string } & Record<string, unknown>;

/**
 * An isolated program whose code identity (measurement) is attested: the host starts it with limited
 * resources, asks it for evidence binding a nonce and report data, passes it requests, and has it seal
 * state under a key only the same code on the same platform derives. Each backend (`simulated` here;
 * Nitro, SGX and SNP need their hardware) implements this.
 */
export interface Enclave {
  readonly kind: EvidenceKind;
  /** The code measurement, hex (a simulated enclave's: SHA-384 of its bundle). */
  readonly measurement: string;
  readonly state: EnclaveState;
  readonly resources: EnclaveResources;
  /** Sets the enclave's resources; only before `initialise`. */
  allocate(resources: Partial<EnclaveResources>): void;
  /** Starts the enclave's program with its allocated resources. */
  initialise(): Promise<void>;
  /** Evidence of this enclave's measurement binding `nonce` and `reportData`, in the backend's own format. */
  attest(nonce: Uint8Array, reportData: Uint8Array): Promise<Uint8Array>;
  /** Passes one request to the program inside and returns its answer. */
  run(request: EnclaveMessage): Promise<EnclaveMessage>;
  /** Has the program seal `state` under its measurement-bound key. */
  seal(state: Uint8Array): Promise<Uint8Array>;
  /** Has the program open what an enclave of the same measurement on this platform sealed. */
  unseal(sealed: Uint8Array): Promise<Uint8Array>;
  /** Whether the program still answers (within its call timeout). */
  ping(): Promise<boolean>;
  /** What the program uses now, or null when it does not answer. */
  usage(): Promise<EnclaveUsage | null>;
  /** Stops the program and forgets its keys; idempotent. */
  destroy(): Promise<void>;
}
