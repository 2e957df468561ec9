import { clipL2, type NoiseSource } from '../privacy/dp/index.js';
import type { PresetName } from '../privacy/he/index.js';
import { ClientSecAgg, ServerSecAgg, createRoundConfig, generateIdentity, type IdentityKeyPair } from '../privacy/secagg/index.js';
import type { ClientResult } from './client-training.js';
import { HeCoordinator, HeParticipants } from './he-round.js';
import type { RoundResult, TrainingManager } from './training-manager.js';

/** How client updates travel to the coordinator and are combined. */
export interface RoundProtection {
  /** 'none': plain float32 updates; 'ckks': encrypted, summed as ciphertexts; 'secagg': masked, summed by SecAgg+. */
  readonly kind: 'none' | 'ckks' | 'secagg';
  /** Whether the coordinator can see individual updates (robust rules and the poisoning detector need them). */
  readonly individualUpdatesVisible: boolean;
  /** Hands the clients' results to the training manager in this protection's form and closes the round. */
  collect(manager: TrainingManager, roundId: string, results: readonly ClientResult[], metrics: Record<string, number>, global: Float32Array): Promise<ProtectedRoundOutcome>;
  close(): void;
}

/** A closed round and what its updates cost on the wire. */
export interface ProtectedRoundOutcome {
  finalized: RoundResult;
  /** Bytes each client sent for its update, on average. */
  bytesPerClient: number;
  /** Seconds the clients spent protecting their updates (encryption), summed over clients. */
  clientSeconds: number;
}

/** Plain updates: the coordinator receives each client's float32 weights. */
export class PlainRound implements RoundProtection {
  readonly kind = 'none' as const;
  readonly individualUpdatesVisible = true;

  async collect(manager: TrainingManager, roundId: string, results: readonly ClientResult[], metrics: Record<string, number>): Promise<ProtectedRoundOutcome> {
    for (const result of results) {
      await manager.submitUpdate(roundId, {
        clientId: result.clientId,
        weights: result.weights,
        numExamples: result.numExamples,
        metrics: { loss: result.loss, seconds: result.seconds },
      });
    }
    const finalized = await manager.finalizeRound(roundId, metrics);
    // A compressed update's wire size is its compressed bytes; otherwise the float32 weights.
    const bytes = results.reduce((sum, r) => sum + (r.compressed?.byteLength ?? r.weights.byteLength), 0);
    return { finalized, bytesPerClient: results.length ? bytes / results.length : 0, clientSeconds: 0 };
  }

  close(): void {}
}

/**
 * CKKS round: each client sends its update times its example count as a ciphertext; the
 * coordinator adds ciphertexts with evaluation keys only; a participant decrypts the sum and
 * divides by the total examples. The coordinator's code path never holds a secret key.
 */
export class CkksRound implements RoundProtection {
  readonly kind = 'ckks' as const;
  readonly individualUpdatesVisible = false;

  private constructor(
    private readonly participants: HeParticipants,
    private readonly coordinator: HeCoordinator,
  ) {}

  /** Generates the job's keys at a participant and gives the coordinator its evaluation keys. */
  static async create(jobId: string, preset: PresetName): Promise<CkksRound> {
    const participants = await HeParticipants.create(jobId, preset);
    return new CkksRound(participants, await HeCoordinator.create(participants.coordinatorKeys()));
  }

  async collect(manager: TrainingManager, roundId: string, results: readonly ClientResult[], metrics: Record<string, number>): Promise<ProtectedRoundOutcome> {
    let bytes = 0;
    const started = performance.now();
    const payloads = new Map<string, Uint8Array>();
    for (const result of results) payloads.set(result.clientId, await this.participants.encrypt(result.weights, result.numExamples));
    const clientSeconds = (performance.now() - started) / 1000;
    for (const result of results) {
      const payload = payloads.get(result.clientId) as Uint8Array;
      bytes += payload.byteLength;
      await manager.submitProtectedUpdate(roundId, {
        clientId: result.clientId,
        numExamples: result.numExamples,
        payload,
        metrics: { loss: result.loss, seconds: result.seconds },
      });
    }
    const finalized = await manager.finalizeProtectedRound(
      roundId,
      async (updates) => {
        const sum = await this.coordinator.aggregate(updates.map((u) => u.payload));
        return this.participants.decrypt(sum, updates.reduce((s, u) => s + u.numExamples, 0));
      },
      metrics,
    );
    return { finalized, bytesPerClient: results.length ? bytes / results.length : 0, clientSeconds };
  }

  close(): void {
    this.participants.dispose();
    this.coordinator.dispose();
  }
}

/** Client-level DP under secure aggregation: each client clips its delta and adds its share of the noise. */
export interface DistributedDp {
  clipNorm: number;
  noiseMultiplier: number;
  noise: NoiseSource;
}

/**
 * SecAgg+ round (Bell et al. 2020): each client masks its contribution so that the coordinator
 * (`ServerSecAgg`) learns only the sum, and drop-outs are recovered from Shamir shares. The
 * training manager records each client's masked vector, which on its own is uniform in Z_(2^32).
 * Contributions are n_k / n times the client's delta (FedAvg's weights, McMahan et al. 2017), so the
 * sum is the weighted mean delta. With client-level DP the client clips its delta to S and adds
 * N(0, z^2 S^2 / m) itself; the protocol refuses to release a sum of fewer than m inputs, so the sum
 * carries at least the noise N(0, z^2 S^2) that DP-FedAvg needs, without trusting the coordinator.
 */
export class SecAggRound implements RoundProtection {
  readonly kind = 'secagg' as const;
  readonly individualUpdatesVisible = false;
  // Identity keys are registered once per client, out of band, before any round (Bonawitz et al. 2017 §3.6).
  private readonly identities = new Map<string, IdentityKeyPair>();

  constructor(private readonly options: { clip: number; dp?: DistributedDp }) {}

  private identityOf(clientId: string): IdentityKeyPair {
    let identity = this.identities.get(clientId);
    if (!identity) {
      identity = generateIdentity();
      this.identities.set(clientId, identity);
    }
    return identity;
  }

  private contribution(result: ClientResult, global: Float32Array, totalExamples: number, m: number): Float32Array {
    const delta = new Float64Array(global.length);
    for (let k = 0; k < delta.length; k++) delta[k] = result.weights[k] - global[k];
    const out = new Float32Array(global.length);
    const dp = this.options.dp;
    if (dp) {
      // DP-FedAvg weighs clients equally so one client moves the sum by at most S (McMahan et al. 2018).
      const clipped = clipL2(delta, dp.clipNorm);
      const noise = dp.noise.gaussian(delta.length, (dp.noiseMultiplier * dp.clipNorm) / Math.sqrt(m));
      for (let k = 0; k < out.length; k++) out[k] = (clipped[k] + noise[k]) / m;
      clipped.fill(0);
    } else {
      const share = result.numExamples / totalExamples;
      for (let k = 0; k < out.length; k++) out[k] = delta[k] * share;
    }
    delta.fill(0);
    return out;
  }

  async collect(manager: TrainingManager, roundId: string, results: readonly ClientResult[], metrics: Record<string, number>, global: Float32Array): Promise<ProtectedRoundOutcome> {
    const ids = results.map((r) => r.clientId);
    const m = ids.length;
    const totalExamples = results.reduce((s, r) => s + r.numExamples, 0);
    const config = createRoundConfig({
      participants: ids,
      vectorLength: global.length,
      clip: this.options.clip,
      roundId,
      ...(this.options.dp ? { minSummands: m } : {}),
    });
    const identityKeys = new Map(ids.map((id) => [id, this.identityOf(id).publicKey]));
    const clients = new Map(ids.map((id) => [id, new ClientSecAgg({ id, config, identity: this.identityOf(id).privateKey, identityKeys })]));
    const server = new ServerSecAgg({ config, identityKeys });
    const sent = new Map(ids.map((id) => [id, 0]));
    let clientMs = 0;
    const step = (id: string, run: (client: ClientSecAgg) => Uint8Array): Uint8Array => {
      const started = performance.now();
      const bytes = run(clients.get(id) as ClientSecAgg);
      clientMs += performance.now() - started;
      sent.set(id, (sent.get(id) ?? 0) + bytes.length);
      return bytes;
    };
    const exchange = (inbox: Map<string, Uint8Array>, run: (client: ClientSecAgg, message: Uint8Array) => Uint8Array, receive: (bytes: Uint8Array) => void): void => {
      for (const id of ids) {
        const message = inbox.get(id);
        if (message) receive(step(id, (client) => run(client, message)));
      }
    };
    // Rounds 0 and 1 (AdvertiseKeys, ShareKeys): keys and encrypted shares, routed by the coordinator.
    for (const id of ids) server.receiveAdvertiseKeys(step(id, (client) => client.advertiseKeys()));
    const neighbourKeys = server.closeAdvertiseKeys();
    exchange(neighbourKeys, (client, message) => client.shareKeys(message), (bytes) => server.receiveShareKeys(bytes));
    const forwarded = server.closeShareKeys();
    // Round 2 (MaskedInputCollection): the masked vectors are the updates the training manager records.
    const byId = new Map(results.map((r) => [r.clientId, r]));
    for (const id of ids) {
      const message = forwarded.get(id);
      if (!message) continue;
      const result = byId.get(id) as ClientResult;
      const input = this.contribution(result, global, totalExamples, m);
      const masked = step(id, (client) => client.maskedInput(message, input));
      input.fill(0);
      server.receiveMaskedInput(masked);
      await manager.submitProtectedUpdate(roundId, { clientId: id, numExamples: result.numExamples, payload: masked, metrics: { loss: result.loss, seconds: result.seconds } });
    }
    const finalized = await manager.finalizeProtectedRound(
      roundId,
      async (updates) => {
        // Rounds 3 and 4 (ConsistencyCheck, Unmasking): only then does the coordinator learn the sum.
        const survivors = server.closeMaskedInputCollection();
        exchange(survivors, (client, message) => client.consistencyCheck(message), (bytes) => server.receiveConsistencySignature(bytes));
        const proof = server.closeConsistencyCheck();
        exchange(proof, (client, message) => client.unmask(message), (bytes) => server.receiveUnmaskShares(bytes));
        const { sum, summands } = server.finish();
        // A client that dropped after masking is not in the sum: rescale to the examples (or clients) that are.
        const counted = this.options.dp ? m / summands.length : totalExamples / updates.filter((u) => summands.includes(u.clientId)).reduce((s, u) => s + u.numExamples, 0);
        const weights = new Float32Array(global.length);
        for (let k = 0; k < weights.length; k++) weights[k] = global[k] + sum[k] * counted;
        return weights;
      },
      metrics,
    );
    const bytes = [...sent.values()];
    return { finalized, bytesPerClient: bytes.reduce((a, b) => a + b, 0) / Math.max(1, bytes.length), clientSeconds: clientMs / 1000 };
  }

  close(): void {
    this.identities.clear();
  }
}
