import { concatBytes, type ResourceMetrics } from '../core/index.js';
import { generateIdentity } from '../privacy/secagg/index.js';
import { loadSimulatedPlatformKey } from '../tee/index.js';
import type { ClientAttack } from './attacks.js';
import type { JobDriver } from './job-driver.js';
import { ParticipantRuntime, type ParticipantOutput } from './participant.js';
import { WEIGHT_OVER_BOUND } from './weight-bound.js';
import type { OutboundStageMessage, ParticipantChannel, RemoteTask } from './participant-channel.js';
import { SimulationError, type ClientRunner } from './simulation.js';

/** A simulated participant: how many examples it holds, and (simulation only) the attack it runs. */
export interface SimulatedParticipant {
  numExamples: number;
  attack?: ClientAttack;
}

// What a simulated node reports; selection in simulation does not filter on resources.
const SIMULATED_RESOURCES: ResourceMetrics = { cpuCores: 1, memoryMb: 512 };

/**
 * Simulation as a transport: each simulated participant is the same `ParticipantRuntime` a client
 * agent runs, its training done by the job's client runner (this thread or worker threads), and its
 * messages handed to the driver in process instead of travelling as signed frames. A participant
 * that cannot train ends the job: in simulation that is a broken setup, not a drop-out.
 */
export class InProcessChannel implements ParticipantChannel {
  private driver: JobDriver | null = null;
  private readonly runtimes = new Map<string, ParticipantRuntime>();

  constructor(
    private readonly runner: ClientRunner,
    private readonly participants: ReadonlyMap<string, SimulatedParticipant>,
  ) {}

  /** Joins every simulated participant to the job, each with a fresh Ed25519 identity (its "kit"). */
  async connect(driver: JobDriver): Promise<void> {
    this.driver = driver;
    // A simulation trusts the enclave its own coordinator launched: its participants allow that measurement, on this machine's simulated platform.
    const enclave = driver.enclave;
    const platformKey = enclave ? loadSimulatedPlatformKey().publicKey : undefined;
    const enclavePolicy = enclave && platformKey ? { allowedMeasurements: [enclave.measurement], platformKey: () => platformKey } : undefined;
    for (const [id, participant] of this.participants) {
      const identity = generateIdentity();
      this.runtimes.set(
        id,
        new ParticipantRuntime({
          id,
          numExamples: participant.numExamples,
          train: (task) => this.runner.train(task),
          identity: identity.privateKey,
          send: (output) => this.deliver(id, output),
          ...(participant.attack ? { attack: participant.attack } : {}),
          ...(enclavePolicy ? { enclavePolicy } : {}),
        }),
      );
      await driver.join(id, participant.numExamples, SIMULATED_RESOURCES, identity.publicKey);
    }
  }

  sendTask(participantId: string, task: RemoteTask, weights: Float32Array): boolean {
    const runtime = this.runtimes.get(participantId);
    if (!runtime) return false;
    runtime.onTask(task, weights);
    return true;
  }

  sendStage(participantId: string, message: OutboundStageMessage): boolean {
    const runtime = this.runtimes.get(participantId);
    if (!runtime) return false;
    const body = message.body instanceof Uint8Array ? message.body : concatBytes(message.body);
    // Delivered on a later turn, as a network would: the coordinator finishes its stage first.
    setImmediate(() => void runtime.onStage({ ...message, body }));
    return true;
  }

  announceDone(): void {}

  private deliver(participantId: string, output: ParticipantOutput): void {
    const driver = this.driver;
    if (!driver) return;
    const fail = (error: unknown): void => driver.fail(error instanceof Error ? error : new Error(String(error)));
    switch (output.kind) {
      case 'update':
        // An update over its weight bound is the coordinator refusing an attacker (recorded in the round's report), not a broken setup.
        driver.submit(participantId, output.update).catch((error: unknown) => (error as { code?: string }).code !== WEIGHT_OVER_BOUND && fail(error));
        return;
      case 'stage':
        driver.receiveStage(participantId, output.message).catch(fail);
        return;
      case 'failed':
        fail(new SimulationError('SIMULATION_CLIENT_FAILED', `client '${participantId}' failed: ${output.reason}`));
        return;
    }
  }
}

