import type { ResourceMetrics } from '../core/index.js';
import type { LocalTrainingPlan } from './client-training.js';
import type { ParsedCompressionConfig } from './compression/index.js';
import type { ClientPrivacy } from './privacy-plan.js';

/**
 * What the coordinator and a participant say to each other about a round, independent of how it
 * travels: in process (simulation) or as signed frames over mutual TLS (`serve` and `client`).
 */

/** SecAgg+ as a participant runs it: the round's public configuration and how to weigh its update. */
export interface SecAggTaskProtection {
  kind: 'secagg';
  /** The round configuration (`createRoundConfig`), as JSON. */
  config: Record<string, unknown>;
  /** Registered Ed25519 public keys of the round's participants (base64 of the raw 32 bytes). */
  identityKeys: Record<string, string>;
  /**
   * How a contribution is weighted before masking: by examples (w_k / W times the delta, w_k the
   * participant's weight bound for the round and W the round's total, so the sum is FedAvg's weighted
   * mean), or for client-level DP clipped to S, noised with N(0, z²S²/m) and divided by m
   * (distributed noise: the released sum carries at least N(0, z²S²)).
   */
  weighting: { kind: 'examples'; weight: number; totalWeight: number } | { kind: 'dp'; clipNorm: number; noiseMultiplier: number; noise: 'secure' | 'seeded-insecure'; minSummands: number; gridStep?: number };
}

/** Multi-party CKKS as a participant runs it: the committee that holds this round's key, and how to check the others' round keys. */
export interface CkksTaskProtection {
  kind: 'ckks';
  /** CKKS parameter preset. */
  preset: 'n8192' | 'n16384';
  /** The round's key holders (K of K are needed to decrypt anything). */
  committee: string[];
  /** Fewest contributors an aggregate may have and still be opened. */
  minContributors: number;
  /** Each participant's weight for the round (its bound): what it encrypts with, and what a key holder accepts as claimed. */
  weights: Record<string, number>;
  /** Registered Ed25519 public keys of the round's participants (base64 of the raw 32 bytes): they sign their round keys. */
  identityKeys: Record<string, string>;
}

/** An attested enclave aggregates this round: its evidence and the I/O key a participant encrypts its update to, once it admits the enclave. */
export interface TeeTaskProtection {
  kind: 'tee';
  /** The enclave's platform; only `simulated` runs without enclave hardware. */
  platform: 'simulated';
  /** The enclave's evidence for this round, base64: its measurement, the round's nonce, SHA-256 of `publicKey` as report data. */
  evidence: string;
  /** The enclave's X25519 key for this round, base64 of the raw 32 bytes. */
  publicKey: string;
}

/** How a participant protects its update this round. */
export type TaskProtection = { kind: 'none' } | SecAggTaskProtection | CkksTaskProtection | TeeTaskProtection;

/** One round's work for one participant. */
export interface RemoteTask {
  jobId: string;
  roundId: string;
  round: number;
  modelVersion: number;
  sha256: string;
  plan: LocalTrainingPlan;
  seed: number;
  deadline: number;
  /** Differential privacy the participant applies itself (DP-SGD or local DP), charged by the coordinator before the round. */
  privacy?: ClientPrivacy;
  /** How the participant compresses its delta (error feedback kept on the participant). */
  compression?: ParsedCompressionConfig;
  protection: TaskProtection;
  /**
   * Whether the participant reports its local training loss: only in plain rounds without DP. Under
   * SecAgg+ or any DP mode a per-participant loss would be a release the protection does not cover.
   */
  releaseLoss: boolean;
}

/** How an update's bytes are to be read: float32 weights, a compressed delta, a SecAgg+ masked vector, CKKS ciphertexts, weights encrypted to an enclave. */
export type UpdateEncoding = 'float32' | 'compressed' | 'secagg' | 'ckks' | 'tee';

/** An update as it leaves a participant. */
export interface RemoteUpdate {
  roundId: string;
  numExamples: number;
  /**
   * Mean local training loss; only in plain rounds without differential privacy: under secure
   * aggregation or DP a per-participant loss would be a release the protection does not cover.
   */
  loss?: number;
  seconds: number;
  encoding: UpdateEncoding;
  body: Uint8Array;
  /** sha256 of `body`, hex, when the transport computed it from these bytes (a verified frame); never a sender's claim. */
  sha256?: string;
}

/** A step of a multi-message protection protocol (SecAgg+'s key exchange and unmasking, CKKS's key setup and decryption, a participant's refusal of an enclave). */
export interface StageMessage {
  roundId: string;
  protocol: 'secagg' | 'ckks' | 'tee';
  stage: string;
  body: Uint8Array;
}

/**
 * A stage message as the coordinator sends it: its body whole or as consecutive chunks, which are
 * written from where they lie (a ciphertext forwarded to a key holder is not copied into the message).
 */
export interface OutboundStageMessage extends Omit<StageMessage, 'body'> {
  body: Uint8Array | readonly Uint8Array[];
}

/** How the coordinator reaches participants: the coordinator server over the network, or the simulation in process. */
export interface ParticipantChannel {
  /** Sends a task with the global weights; false when the participant is not connected. */
  sendTask(participantId: string, task: RemoteTask, weights: Float32Array): boolean;
  /** Sends a protection protocol message; false when the participant is not connected. */
  sendStage(participantId: string, message: OutboundStageMessage): boolean;
  /** Tells every connected participant that the job ended. */
  announceDone(jobId: string, status: 'completed' | 'failed', accuracy?: number): void;
}

/** What the coordinator's side of a job accepts from participants, whatever carries it. */
export interface CoordinatorEndpoint {
  readonly jobId: string;
  join(participantId: string, numExamples: number, resources: ResourceMetrics): Promise<void>;
  leave(participantId: string): Promise<void>;
  heartbeat(participantId: string, resources: ResourceMetrics): Promise<void>;
  /** 'send' when the open round wants this participant's update, 'duplicate' when it already has it. */
  offer(participantId: string, roundId: string): Promise<'send' | 'duplicate'>;
  submit(participantId: string, update: RemoteUpdate): Promise<'accepted' | 'duplicate'>;
  receiveStage(participantId: string, message: StageMessage): Promise<void>;
}
