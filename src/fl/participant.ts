import type { KeyObject } from 'node:crypto';
import { CipherNexusError } from '../core/errors.js';
import type { ClientAttack } from './attacks.js';
import type { ClientResult, ClientTask } from './client-training.js';
import type { RemoteTask, RemoteUpdate, StageMessage } from './participant-channel.js';
import { CkksParticipant } from './protection/ckks.js';
import { SecAggParticipant } from './protection/secagg.js';
import { admitEnclave, encryptUpdate, refusalBody, type EnclavePolicy } from './protection/tee.js';
import { checkProtectionFloor, type ProtectionKind } from './protection-floor.js';
import { checkRoundIdentities, type RoundIdentityCheck } from './round-identities.js';

/** What a participant sends: an update (offered, then sent when pulled), a protocol message, or a failed task. */
export type ParticipantOutput = { kind: 'update'; update: RemoteUpdate } | { kind: 'stage'; message: StageMessage } | { kind: 'failed'; roundId: string; reason: string };

/** What a participant's runtime is given by whoever hosts it (the client agent, or the simulation). */
export interface ParticipantRuntimeOptions {
  id: string;
  /** Examples it declared when joining. */
  numExamples: number;
  /** Trains a task on the participant's own data (in this thread, or a simulation's worker). */
  train(task: ClientTask): Promise<ClientResult>;
  /** Long-term Ed25519 key: signs SecAgg+ key bundles (the kit's signing key across machines). */
  identity: KeyObject;
  /** Where its messages go. */
  send(output: ParticipantOutput): void;
  /** Simulation only: the attack this participant runs. */
  attack?: ClientAttack;
  /** Which enclaves may see this participant's update (`privacy.tee`); without it, every enclave is refused. */
  enclavePolicy?: EnclavePolicy;
  /** Across machines: the roster SecAgg+ and CKKS rounds' identity keys are checked against before anything is sent. */
  identities?: RoundIdentityCheck;
  /** The protections this participant sends its update under; a task naming another is refused before training. Default: any. */
  protections?: ReadonlySet<ProtectionKind>;
}

interface ActiveRound {
  roundId: string;
  /**
   * A protected round's later stages mask or encrypt the trained update against the global model; a plain round keeps
   * neither, so a participant holds no model's worth of memory between its update and the next task.
   */
  protocol?: { global: Float32Array; trained: Promise<ClientResult>; secagg?: SecAggParticipant; ckks?: CkksParticipant };
}

/**
 * The participant's half of a round, whatever carries its messages: it trains each task on local
 * data, applies the privacy the task asks for (DP-SGD or local DP), compresses (keeping its own
 * error-feedback residual) or protects the update (SecAgg+), and answers the protection's stages.
 * Only what the round's protection covers leaves it: no per-participant loss under SecAgg+ or DP.
 */
export class ParticipantRuntime {
  private residual: Float32Array | undefined;
  private active: ActiveRound | null = null;

  constructor(private readonly options: ParticipantRuntimeOptions) {}

  /** The examples an update claims: those declared at join; a simulated 'inflate-weight' attacker claims more. */
  private get claimed(): number {
    const { attack, numExamples } = this.options;
    return attack?.kind === 'inflate-weight' ? attack.factor : numExamples;
  }

  /** The round this participant is working on, if any. */
  get roundId(): string | undefined {
    return this.active?.roundId;
  }

  /** Starts a round's task: training begins at once; SecAgg+ advertises its keys while it trains. */
  onTask(task: RemoteTask, weights: Float32Array): void {
    const { id, attack, protections } = this.options;
    if (protections) {
      try {
        checkProtectionFloor(task.protection.kind, protections);
      } catch (error) {
        this.active?.protocol?.ckks?.dispose();
        this.active = null;
        this.fail(task.roundId, error);
        return;
      }
    }
    let enclaveKey: Uint8Array | undefined;
    if (task.protection.kind === 'tee') {
      // The enclave is checked before any training: a participant that refuses it spends nothing on the round.
      try {
        enclaveKey = admitEnclave(task.protection, task, this.options.enclavePolicy, new Date());
      } catch (error) {
        this.active?.protocol?.ckks?.dispose();
        this.active = null;
        this.stage(task.roundId, 'tee', 'refuse', refusalBody(error));
        return;
      }
    }
    const plain = task.protection.kind === 'none';
    const compression = plain && task.compression && task.compression.kind !== 'none' ? task.compression : undefined;
    const clientTask: ClientTask = {
      clientId: id,
      round: task.round,
      globalWeights: weights,
      plan: task.plan,
      seed: task.seed,
      ...(task.privacy ? { privacy: task.privacy } : {}),
      ...(attack ? { attack } : {}),
      ...(compression ? { compression, residual: this.residual } : {}),
    };
    const trained = this.options.train(clientTask);
    this.active?.protocol?.ckks?.dispose();
    const active: ActiveRound = { roundId: task.roundId };
    this.active = active;
    if (task.protection.kind === 'secagg' || task.protection.kind === 'ckks') {
      const protocol: NonNullable<ActiveRound['protocol']> = { global: weights, trained };
      active.protocol = protocol;
      // The protection's first message goes out while the participant trains.
      try {
        if (this.options.identities) checkRoundIdentities(task.protection.identityKeys, this.options.identities);
        if (task.protection.kind === 'secagg') {
          protocol.secagg = new SecAggParticipant(id, task.protection, this.options.identity, this.options.numExamples, task.seed);
          this.stage(task.roundId, 'secagg', 'advertiseKeys', protocol.secagg.advertiseKeys());
        } else {
          protocol.ckks = new CkksParticipant(id, task.jobId, task.roundId, task.protection, this.options.identity, this.options.numExamples);
          this.stage(task.roundId, 'ckks', 'identity', protocol.ckks.identity());
        }
      } catch (error) {
        this.fail(task.roundId, error);
      }
      trained.catch((error: unknown) => this.fail(task.roundId, error));
      return;
    }
    trained.then(
      (result) => {
        if (this.active !== active) return;
        if (result.residual) this.residual = result.residual;
        let body: Uint8Array;
        try {
          body = enclaveKey ? encryptUpdate(enclaveKey, task, id, result.weights) : (result.compressed ?? new Uint8Array(result.weights.buffer, result.weights.byteOffset, result.weights.byteLength));
          // Only the ciphertext leaves: the trained weights are wiped once encrypted.
          if (enclaveKey) result.weights.fill(0);
        } catch (error) {
          this.fail(task.roundId, error);
          return;
        }
        const update: RemoteUpdate = {
          roundId: task.roundId,
          numExamples: this.claimed,
          seconds: result.seconds,
          encoding: enclaveKey ? 'tee' : result.compressed ? 'compressed' : 'float32',
          body,
          ...(task.releaseLoss ? { loss: result.loss } : {}),
        };
        this.options.send({ kind: 'update', update });
      },
      (error: unknown) => this.fail(task.roundId, error),
    );
  }

  /** Answers one message of the round's protection protocol. */
  async onStage(message: StageMessage): Promise<void> {
    const active = this.active;
    const protocol = active?.protocol;
    if (!active || !protocol || active.roundId !== message.roundId) return;
    const trained = async (): Promise<{ result: ClientResult; global: Float32Array }> => ({ result: await protocol.trained, global: protocol.global });
    try {
      let answer: { stage: string; body: Uint8Array } | null;
      if (message.protocol === 'secagg' && protocol.secagg) answer = await protocol.secagg.answer(message.stage, message.body, trained);
      else if (message.protocol === 'ckks' && protocol.ckks) answer = await protocol.ckks.answer(message.stage, message.body, trained);
      else return;
      if (!answer || this.active !== active) return;
      // The protected update itself travels like any update (offered, then sent when the coordinator pulls it).
      if (answer.stage === 'masked' || answer.stage === 'contribution') {
        const { seconds } = await protocol.trained;
        const encoding = message.protocol === 'secagg' ? 'secagg' : 'ckks';
        this.options.send({ kind: 'update', update: { roundId: active.roundId, numExamples: this.claimed, seconds, encoding, body: answer.body } });
      } else {
        this.stage(active.roundId, message.protocol, answer.stage, answer.body);
      }
    } catch (error) {
      this.fail(active.roundId, error);
    }
  }

  private stage(roundId: string, protocol: StageMessage['protocol'], stage: string, body: Uint8Array): void {
    this.options.send({ kind: 'stage', message: { roundId, protocol, stage, body } });
  }

  private fail(roundId: string, error: unknown): void {
    const reason = error instanceof CipherNexusError ? `${error.code}: ${error.message}` : (error as Error).message;
    this.options.send({ kind: 'failed', roundId, reason: reason.slice(0, 1000) });
  }
}
