import { randomUUID } from 'node:crypto';
import type { Enclave, EnclaveResources, EnclaveState } from './enclave.js';
import { EnclaveError, hardwareUnavailable } from './errors.js';
import type { EvidenceKind } from './evidence.js';
import { SimulatedEnclave } from './simulated/enclave.js';
import type { SimulatedPlatformKey } from './simulated/platform-key.js';

/** What the manager knows of one enclave. */
export interface EnclaveRecord {
  id: string;
  kind: EvidenceKind;
  measurement: string;
  resources: EnclaveResources;
  state: EnclaveState;
  startedAt: number;
  /** When it last answered a health check, unix ms, or null. */
  lastHealthyAt: number | null;
}

/** What launching an enclave takes. */
export interface LaunchOptions {
  kind: EvidenceKind;
  /** The program: for `simulated`, one ES module whose SHA-384 is the measurement. */
  bundle: Uint8Array;
  resources?: Partial<EnclaveResources>;
  /** `simulated` only: the platform key (default: the one under `.cipher-nexus/tee`). */
  platform?: SimulatedPlatformKey;
  log?: (line: string) => void;
}

/**
 * Keeps a host's enclaves: launches them with their resources, knows each one's measurement, checks
 * that they still answer, and destroys them. Only `simulated` enclaves launch on a machine without
 * enclave hardware; a hardware kind is refused with what it would need.
 */
export class EnclaveManager {
  private readonly enclaves = new Map<string, { enclave: Enclave; record: EnclaveRecord }>();

  /** Starts an enclave of `kind` running `bundle`; it is tracked until destroyed. */
  async launch(options: LaunchOptions): Promise<{ id: string; enclave: Enclave }> {
    if (options.kind !== 'simulated') throw new EnclaveError('TEE_HARDWARE_UNAVAILABLE', hardwareUnavailable(options.kind));
    const enclave = new SimulatedEnclave({ bundle: options.bundle, ...(options.platform ? { platform: options.platform } : {}), ...(options.log ? { log: options.log } : {}) });
    if (options.resources) enclave.allocate(options.resources);
    await enclave.initialise();
    const id = `enclave-${randomUUID()}`;
    this.enclaves.set(id, { enclave, record: { id, kind: enclave.kind, measurement: enclave.measurement, resources: enclave.resources, state: enclave.state, startedAt: Date.now(), lastHealthyAt: Date.now() } });
    return { id, enclave };
  }

  /** The tracked enclaves, as last seen. */
  list(): EnclaveRecord[] {
    return [...this.enclaves.values()].map(({ enclave, record }) => ({ ...record, state: enclave.state }));
  }

  /** Pings every enclave and returns the records; one that does not answer is reported with its state. */
  async health(): Promise<EnclaveRecord[]> {
    for (const { enclave, record } of this.enclaves.values()) if (await enclave.ping()) record.lastHealthyAt = Date.now();
    return this.list();
  }

  /** Destroys one enclave and forgets it. */
  async destroy(id: string): Promise<void> {
    const entry = this.enclaves.get(id);
    if (!entry) return;
    this.enclaves.delete(id);
    await entry.enclave.destroy();
  }

  /** Destroys every enclave. */
  async destroyAll(): Promise<void> {
    await Promise.all([...this.enclaves.keys()].map((id) => this.destroy(id)));
  }
}
