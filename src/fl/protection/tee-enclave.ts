import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { EnclaveManager, bundleEnclaveProgram, ioKeyReportData, type Enclave, type EnclaveBundle, type EnclaveResources, type EnclaveUsage, type SimulatedPlatformKey } from '../../tee/index.js';
import type { StrategyConfig } from '../strategies/index.js';
import type { OpenRoundRequest } from './enclave-aggregation.js';

/** The aggregation enclave's program, bundled once per process. */
let bundled: Promise<EnclaveBundle> | undefined;

/** The aggregation enclave's code as one measured bundle: its measurement is what participants allow (`client --tee-allow`). */
export function aggregationEnclaveBundle(): Promise<EnclaveBundle> {
  // From source under tsx, from dist once built: each is its own code, with its own measurement.
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  bundled ??= bundleEnclaveProgram(fileURLToPath(new URL(`./enclave-aggregation.program.${ext}`, import.meta.url)));
  return bundled;
}

const NONCE_DOMAIN = 'cipher-nexus/tee/round-nonce/v1';

/**
 * The nonce a round's evidence must carry: SHA-256 of the job and round ids. The coordinator cannot
 * choose it and every participant recomputes it, so evidence made for another round (or job) is
 * refused; it is fresh as long as round ids are (random UUIDs).
 */
export function roundNonce(jobId: string, roundId: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`${NONCE_DOMAIN}\0${jobId}\0${roundId}`).digest());
}

/** The context a round's encrypted updates are bound to. */
export function teeRoundContext(jobId: string, roundId: string): string {
  return `${jobId}\0${roundId}`;
}

/** What the aggregation enclave does with a job's updates: its strategy, and client-level DP noise if any. */
export interface AggregationPlan {
  strategy: StrategyConfig;
  dp?: OpenRoundRequest['dp'];
}

/** A round opened in the enclave: the evidence binding its I/O key to the round, and that key. */
export interface OpenedRound {
  evidence: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * The coordinator's handle on its aggregation enclave: it starts it, opens each round (a fresh I/O key,
 * attested with the round's nonce), and hands it the round's ciphertexts, getting back only the next
 * global model. The coordinator's own process never holds a decrypted update.
 */
export class AggregationEnclave {
  private constructor(
    private readonly manager: EnclaveManager,
    private readonly enclave: Enclave,
    private readonly plan: AggregationPlan,
  ) {}

  /** Starts a `simulated` aggregation enclave for a job. */
  static async launch(plan: AggregationPlan, options: { resources?: Partial<EnclaveResources>; platform?: SimulatedPlatformKey; log?: (line: string) => void } = {}): Promise<AggregationEnclave> {
    const bundle = await aggregationEnclaveBundle();
    const manager = new EnclaveManager();
    const { enclave } = await manager.launch({ kind: 'simulated', bundle: bundle.bytes, ...options });
    return new AggregationEnclave(manager, enclave, plan);
  }

  get kind(): Enclave['kind'] {
    return this.enclave.kind;
  }

  get measurement(): string {
    return this.enclave.measurement;
  }

  get resources(): EnclaveResources {
    return this.enclave.resources;
  }

  /** Opens round `roundId` in the enclave: a fresh I/O key, and evidence binding it and the round's nonce. */
  async openRound(input: { jobId: string; roundId: string; round: number; global: Float32Array }): Promise<OpenedRound> {
    const answer = await this.enclave.run({ op: 'open', roundContext: teeRoundContext(input.jobId, input.roundId), round: input.round, global: input.global, strategy: this.plan.strategy, ...(this.plan.dp ? { dp: this.plan.dp } : {}) });
    const publicKey = answer.publicKey as Uint8Array;
    const evidence = await this.enclave.attest(roundNonce(input.jobId, input.roundId), new Uint8Array(Buffer.from(ioKeyReportData(publicKey), 'hex')));
    return { evidence, publicKey };
  }

  /** The next global model from the round's ciphertexts, computed inside the enclave. */
  async aggregate(input: { jobId: string; roundId: string; contributions: { id: string; numExamples: number; envelope: Uint8Array }[] }): Promise<Float32Array> {
    const answer = await this.enclave.run({ op: 'aggregate', roundContext: teeRoundContext(input.jobId, input.roundId), contributions: input.contributions });
    return answer.weights as Float32Array;
  }

  /** What the enclave uses now, or null when it no longer answers. */
  usage(): Promise<EnclaveUsage | null> {
    return this.enclave.usage();
  }

  /** Stops the enclave; its keys and anything it held go with its process. */
  destroy(): Promise<void> {
    return this.manager.destroyAll();
  }
}
