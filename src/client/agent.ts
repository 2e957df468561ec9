import { createHash, createPrivateKey } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { availableParallelism, freemem, loadavg, totalmem } from 'node:os';
import { CipherNexusError } from '../core/errors.js';
import { coordinatorAddresses } from './coordinator-addresses.js';
import type { ResourceMetrics } from '../core/index.js';
import { EXAMPLES_REDECLARED, ParticipantRuntime, type AnonymousMember, runClientTask, weightsSha256, type ClientResult, type ClientTask, type EnclavePolicy, type ParticipantOutput, type ProtectionKind } from '../fl/index.js';
import { rosterKeys, signerFromKit, type MessageSigner, type ParticipantKit } from '../identity/index.js';
import { LocalModel, initBackend, loadCsvDataset, validateModelSpec, type Dataset } from '../ml/index.js';
import { PROTOCOL_VERSION, ProtocolVersionError, ServerMessages, bodyWeights, decodeMessage, type ClientHeader, type ClientKind, type Message, type ServerHeader } from '../protocol/index.js';
import { Uplink } from './uplink.js';

/** The agent could not take part (bad data for the job, refused by the coordinator). */
export class ClientAgentError extends CipherNexusError {}

/** How a participant's agent runs. */
export interface ClientAgentOptions {
  kit: ParticipantKit;
  /** Local training data, a CSV read with the job's column and scaling rules. */
  dataFile: string;
  /** Overrides the kit's coordinator address (e.g. behind a load balancer). */
  serverUrl?: string;
  /** Reconnection back-off: first wait and ceiling, ms (doubling with jitter in between). */
  backoff?: { initialMs: number; maxMs: number };
  /** Resource metrics sent with heartbeats; the host's by default. */
  resources?: () => ResourceMetrics;
  /**
   * A data owner's agent serving a market asset: it takes part only in a job whose welcome carries an
   * access grant this check admits, before it reads a row, and refuses any other with the reason.
   */
  admitJob?: (jobId: string, market: ServerHeader<'welcome'>['market']) => Promise<void>;
  /** Which enclaves may see this participant's update in a `privacy.tee` job; without it every enclave is refused. */
  enclavePolicy?: EnclavePolicy;
  /** The protections this node sends its update under (`client --protection`); a round naming another is refused. Default: any. */
  protections?: ReadonlySet<ProtectionKind>;
  /**
   * A `privacy.anonymous` job: the member this agent proves to be, with a join proof bound to each connection and a
   * proof with every update; the coordinator then never learns which member it is.
   */
  anonymous?: AnonymousMember;
  /** Sees every message this agent sends, whole and signed, before TLS (the CLI's `client --wire-log` writes them to a file). */
  onFrame?: (message: Uint8Array) => void;
}

/** How the agent's job ended. */
export interface ClientAgentResult {
  jobId: string;
  status: 'completed' | 'failed';
  accuracy?: number;
  rounds: number;
  /** Connections that dropped during the job and were made again. */
  reconnects: number;
  /** Attempts that failed before the first connection (the coordinator was not up yet, or not reachable). */
  attemptsBeforeConnected: number;
}

type ServerMessage = Message<typeof ServerMessages>;
/** A trained update as the participant's runtime hands it over. */
type UpdateOutput = Extract<ParticipantOutput, { kind: 'update' }>['update'];
/** What the coordinator's announcement of the job's end says. */
type JobEnd = Pick<ClientAgentResult, 'jobId' | 'status' | 'accuracy'>;

// Refusals of an update that say "not now" rather than "never".
const RETRYABLE = new Set(['RATE_LIMITED', 'INTERNAL', 'UPDATE_NOT_REQUESTED']);
const MAX_REOFFERS = 5;
/** While it trains, the agent gives the event loop a turn this often, ms: its heartbeats and the answers to the coordinator's pings go out, and a long training does not look like a host that is gone. */
const TRAINING_TURN_MS = 100;

/**
 * The host's resources, as a node reports them in its heartbeat. Cores are the ones this process may run on
 * (`availableParallelism`): `os.cpus()` parses every core's details and took 0.1 ms a heartbeat on 2 cores.
 */
export function hostResources(): ResourceMetrics {
  const cores = availableParallelism();
  const memory = totalmem();
  return {
    cpuCores: cores,
    memoryMb: Math.floor(memory / 2 ** 20),
    cpuLoad: Math.min(1, loadavg()[0] / Math.max(1, cores)),
    memoryLoad: Math.min(1, 1 - freemem() / memory),
  };
}

/**
 * A participant's agent: connects to the coordinator over mutual TLS, says hello, keeps a heartbeat,
 * trains each task it is given on local data only, submits signed updates, and reconnects with
 * back-off when the connection drops. An update whose acknowledgement was lost is sent again as is
 * (the coordinator recognises the same bytes), so a coordinator restart loses and doubles nothing.
 */
export class ClientAgent extends EventEmitter {
  private readonly signer: MessageSigner;
  /** The coordinator's addresses, tried in turn. */
  private readonly urls: string[];
  private attempts = 0;
  private link: Uplink | null = null;
  private stopped = false;
  private data: Dataset | null = null;
  private model: LocalModel | null = null;
  /** The participant's half of each round (training, privacy, compression, SecAgg+), created at the welcome. */
  private runtime: ParticipantRuntime | null = null;
  /** Training runs one task at a time on the one model. */
  private training: Promise<unknown> = Promise.resolve();
  /** The job the coordinator welcomed this agent to. */
  private jobId = '';
  /** Round numbers of the tasks this agent was given, by round id. */
  private readonly roundNumbers = new Map<string, number>();
  /** The last update, kept until acknowledged, keyed by round id. */
  private unacknowledged: { roundId: string; header: ClientHeader<'update'>; body: Uint8Array } | null = null;
  private readonly trainedRounds = new Set<string>();
  private reconnects = 0;
  private attemptsBeforeConnected = 0;
  private everConnected = false;
  private reoffers = 0;
  /** In an anonymous job, whether this connection was sent its join proof. */
  private joinProved = false;
  private work: Promise<void> = Promise.resolve();

  constructor(private readonly options: ClientAgentOptions) {
    super();
    this.signer = signerFromKit(options.kit);
    this.urls = coordinatorAddresses(options.serverUrl, options.kit.coordinatorUrl, 'coordinator');
  }

  /** Runs until the coordinator announces the job's end (or stop() is called). */
  async run(): Promise<ClientAgentResult> {
    await initBackend();
    const backoff = this.options.backoff ?? { initialMs: 250, maxMs: 5000 };
    let wait = backoff.initialMs;
    try {
      while (!this.stopped) {
        const outcome = await this.connectOnce();
        if (outcome.done) return { ...outcome.done, rounds: this.trainedRounds.size, reconnects: this.reconnects, attemptsBeforeConnected: this.attemptsBeforeConnected };
        if (outcome.fatal) throw outcome.fatal;
        if (this.stopped) break;
        if (outcome.opened) {
          wait = backoff.initialMs;
          this.everConnected = true;
          this.reconnects++;
        } else if (!this.everConnected) this.attemptsBeforeConnected++;
        const delay = Math.min(backoff.maxMs, wait) * (0.5 + Math.random() / 2);
        const attempt = this.everConnected ? this.reconnects : this.attemptsBeforeConnected;
        this.emit('reconnecting', { delayMs: Math.round(delay), attempt, connectedBefore: this.everConnected });
        await new Promise((resolve) => setTimeout(resolve, delay));
        wait = Math.min(backoff.maxMs, wait * 2);
      }
      throw new ClientAgentError('CLIENT_STOPPED', 'the agent was stopped before the job ended');
    } finally {
      this.model?.dispose();
      this.model = null;
    }
  }

  /** Closes the connection and ends run(). */
  stop(): void {
    this.stopped = true;
    this.link?.close();
  }

  private connectOnce(): Promise<{ opened: boolean; done?: JobEnd; fatal?: Error }> {
    return new Promise((resolve) => {
      let opened = false;
      let done: JobEnd | undefined;
      let fatal: Error | undefined;
      // Each attempt after a failed or lost connection goes to the next address: a standby takes over at its own.
      const link = new Uplink({
        url: this.urls[this.attempts++ % this.urls.length],
        kit: this.options.kit,
        signer: this.signer,
        resources: () => this.resources(),
        ...(this.options.onFrame ? { onFrame: this.options.onFrame } : {}),
      });
      this.link = link;
      const { socket } = link;
      socket.on('open', () => {
        opened = true;
        this.joinProved = false;
        this.emit('connected');
        this.send('hello', { ...(this.data && !this.options.anonymous ? { numExamples: this.data.numExamples } : {}), resources: this.resources(), agent: 'cipher-nexus/0.1' });
      });
      socket.on('message', (raw: Buffer) => {
        let message: ServerMessage;
        try {
          message = decodeMessage(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), ServerMessages);
        } catch (error) {
          if (error instanceof ProtocolVersionError) {
            // Nothing this coordinator sends can be understood: retrying cannot help.
            fatal = new ClientAgentError('CLIENT_PROTOCOL_VERSION', `the coordinator speaks Cipher Nexus protocol version ${error.peer}, this agent speaks version ${PROTOCOL_VERSION}; install the release the coordinator runs`);
            socket.close();
            return;
          }
          this.emit('warning', `ignored a message the coordinator sent: ${(error as Error).message}`);
          return;
        }
        // Messages are handled one at a time, in order: a task trains while the next message waits.
        this.work = this.work
          .then(() => this.handle(message))
          .then((outcome) => {
            if (outcome?.done) {
              done = outcome.done;
              socket.close();
            }
          })
          .catch((error: Error) => {
            fatal = error;
            socket.close();
          });
      });
      socket.on('error', (error) => {
        // A 401/403 before the WebSocket opens is the coordinator refusing this participant: retrying cannot help.
        const refused = /Unexpected server response: (401|403)/.exec(error.message);
        if (refused) fatal = new ClientAgentError('CLIENT_REFUSED', `the coordinator refused this participant (HTTP ${refused[1]}); it may have been revoked: ask the job's operator`);
        else this.emit('warning', `connection error: ${error.message}`);
      });
      socket.on('close', (code, reason) => {
        this.link = null;
        if (code === 4401 || code === 4403) fatal = new ClientAgentError('CLIENT_REFUSED', `the coordinator refused this participant: ${reason.toString() || code}`);
        // 4426: the coordinator refused this agent's protocol version; its reason names both versions.
        if (code === 4426) fatal ??= new ClientAgentError('CLIENT_PROTOCOL_VERSION', `${reason.toString()}; this agent speaks version ${PROTOCOL_VERSION}: install the release the coordinator runs`);
        this.emit('disconnected', { code });
        void this.work.then(() => resolve({ opened, done, fatal }));
      });
    });
  }

  private async handle(message: ServerMessage): Promise<{ done?: JobEnd } | undefined> {
    switch (message.kind) {
      case 'welcome':
        await this.welcome(message.header);
        return undefined;
      case 'task':
        this.send('received', { roundId: message.header.roundId });
        if (!this.data || !this.model || !this.runtime) {
          this.emit('warning', `ignored round ${message.header.round}'s task: it came before the job's welcome`);
          return undefined;
        }
        try {
          this.start(message.header, message.body);
        } catch (error) {
          // One task going wrong (a corrupt model) is reported; the agent stays in the job.
          this.emit('warning', `round ${message.header.round} failed: ${(error as Error).message}`);
          this.send('failed', { roundId: message.header.roundId, reason: (error as Error).message.slice(0, 1000) });
        }
        return undefined;
      case 'stage':
        // The body is used where it arrived: a key holder's copy of every CKKS contribution was 325 MB of fresh pages a round at 100 participants.
        await this.runtime?.onStage({ ...message.header, body: message.body });
        return undefined;
      case 'pull':
        if (this.unacknowledged?.roundId === message.header.roundId) this.send('update', this.unacknowledged.header, this.unacknowledged.body);
        return undefined;
      case 'ack':
        if (this.unacknowledged?.roundId === message.header.roundId) this.unacknowledged = null;
        this.emit('ack', message.header);
        return undefined;
      case 'error':
        this.emit('refused', message.header);
        // Refusals no retry can change: the identity (a membership proof too), or an example count that differs from the one this participant declared for the job.
        // A spent nullifier is not one: this member's update for the round came in over another connection, and the job goes on.
        if (message.header.code.startsWith('AUTH_') || (message.header.code.startsWith('ZK_') && message.header.code !== 'ZK_NULLIFIER_REUSED') || message.header.code === EXAMPLES_REDECLARED) throw new ClientAgentError(message.header.code, `the coordinator refused a message: ${message.header.message}`);
        // A transient refusal of the update (busy, slot lapsed) is answered by offering it again, a few times.
        if (this.unacknowledged && RETRYABLE.has(message.header.code) && this.reoffers < MAX_REOFFERS) {
          this.reoffers++;
          const pending = this.unacknowledged.header;
          setTimeout(() => this.unacknowledged?.header === pending && this.offer(pending), 1000).unref();
        }
        return undefined;
      case 'done':
        return { done: { jobId: message.header.jobId, status: message.header.status, ...(message.header.accuracy !== undefined ? { accuracy: message.header.accuracy } : {}) } };
    }
  }

  private async welcome(header: ServerHeader<'welcome'>): Promise<void> {
    if (this.options.admitJob && this.jobId !== header.jobId) {
      try {
        await this.options.admitJob(header.jobId, header.market);
      } catch (error) {
        const code = error instanceof CipherNexusError ? error.code : 'CLIENT_JOB_REFUSED';
        const message = (error as Error).message;
        this.emit('refused-job', { jobId: header.jobId, code, message });
        // Said before leaving, so that the coordinator's operator sees why this data owner is not taking part.
        await this.link?.send('refuse', { code, message: message.slice(0, 2000) });
        throw new ClientAgentError(code, `refused job ${header.jobId}: ${message}`);
      }
    }
    const firstWelcome = !this.data;
    if (!this.data) {
      const { stats, ...rules } = header.data;
      const loaded = await loadCsvDataset(this.options.dataFile, {
        ...rules,
        ...(stats ? { stats: { min: Float32Array.from(stats.min), max: Float32Array.from(stats.max) } } : {}),
      });
      this.data = loaded.dataset;
      const spec = validateModelSpec(header.spec);
      const inputs = spec.inputShape.reduce((a, b) => a * b, 1);
      if (this.data.numFeatures !== inputs) {
        throw new ClientAgentError('CLIENT_DATA_MISMATCH', `'${this.options.dataFile}' has ${this.data.numFeatures} features; the job's model takes ${inputs}`);
      }
      this.model = await LocalModel.create(spec, { seed: 0 });
      this.runtime = new ParticipantRuntime({
        id: header.participantId,
        numExamples: this.data.numExamples,
        train: (task) => this.train(task),
        // The kit's signing key is also the participant's SecAgg+ identity key, registered with the coordinator.
        identity: createPrivateKey(this.options.kit.signingPrivateKey),
        send: (output) => this.output(output),
        ...(this.options.enclavePolicy ? { enclavePolicy: this.options.enclavePolicy } : {}),
        ...(this.options.protections ? { protections: this.options.protections } : {}),
        ...(this.options.kit.roster ? { identities: { roster: rosterKeys(this.options.kit.roster), anonymous: this.options.anonymous !== undefined } } : {}),
      });
    }
    if (this.options.anonymous && !this.joinProved) {
      // The coordinator welcomes every hello: only the first welcome on a connection is answered with the join.
      this.joinProved = true;
      // Each connection joins with its own proof: it is bound to the connection's id, so it cannot be replayed on another.
      const membershipProof = Buffer.from(await this.options.anonymous.proveJoin(header.jobId, header.participantId)).toString('base64url');
      this.send('hello', { numExamples: this.data.numExamples, resources: this.resources(), agent: 'cipher-nexus/0.1', membershipProof });
    } else if (firstWelcome) {
      // The first hello could not know the example count before the job's data rules arrived.
      this.send('hello', { numExamples: this.data.numExamples, resources: this.resources(), agent: 'cipher-nexus/0.1' });
    }
    this.link?.keepAlive(header.heartbeatSeconds);
    this.jobId = header.jobId;
    this.emit('welcome', header);
  }

  /** Starts a round's task, unless it is one this agent already has (a task sent again after a reconnect). */
  private start(task: ServerHeader<'task'>, body: Uint8Array): void {
    const runtime = this.runtime as ParticipantRuntime;
    if (this.unacknowledged?.roundId === task.roundId) {
      this.offer(this.unacknowledged.header);
      return;
    }
    if (runtime.roundId === task.roundId) return;
    const globalWeights = bodyWeights(body, (this.model as LocalModel).numParams);
    if (weightsSha256(globalWeights) !== task.sha256) throw new ClientAgentError('CLIENT_MODEL_CORRUPT', `round ${task.round}'s model does not match its sha256`);
    this.emit('task', task);
    this.roundNumbers.set(task.roundId, task.round);
    this.trainedRounds.add(task.roundId);
    runtime.onTask({ ...task, jobId: this.jobId }, globalWeights);
  }

  private train(task: ClientTask): Promise<ClientResult> {
    // Trainings run one after another (the chain), so the turns given to the event loop never start a second one.
    const run = this.training.then(() => runClientTask(this.model as LocalModel, this.data as Dataset, task, { yieldEveryMs: TRAINING_TURN_MS }));
    this.training = run.catch(() => undefined);
    return run;
  }

  /** What the participant's runtime sends: updates are offered (and sent when pulled), the rest goes at once. */
  private output(output: ParticipantOutput): void {
    switch (output.kind) {
      case 'update': {
        if (this.options.anonymous) {
          void this.proveAndOffer(output.update, this.options.anonymous);
          return;
        }
        this.offerUpdate(output.update);
        return;
      }
      case 'stage': {
        const { body, ...header } = output.message;
        if (header.protocol === 'tee' && header.stage === 'refuse') {
          // Nothing was trained for a refused enclave; the operator of this node is told why, as the coordinator is.
          this.trainedRounds.delete(header.roundId);
          this.emit('refused-enclave', { round: this.roundNumbers.get(header.roundId) ?? 0, ...(JSON.parse(Buffer.from(body).toString('utf8')) as { code: string; message: string }) });
        }
        this.send('stage', header as ClientHeader<'stage'>, body);
        return;
      }
      case 'failed':
        this.emit('warning', `round ${this.roundNumbers.get(output.roundId) ?? '?'} failed: ${output.reason}`);
        this.send('failed', { roundId: output.roundId, reason: output.reason });
        return;
    }
  }

  /** Offers a trained update (with its membership proof in an anonymous job); it is sent when the coordinator pulls it. */
  private offerUpdate(update: UpdateOutput, membershipProof?: string): void {
    const header: ClientHeader<'update'> = {
      roundId: update.roundId,
      round: this.roundNumbers.get(update.roundId) ?? 1,
      numExamples: update.numExamples,
      ...(update.loss !== undefined ? { loss: update.loss } : {}),
      seconds: update.seconds,
      encoding: update.encoding,
      sha256: createHash('sha256').update(update.body).digest('hex'),
      ...(membershipProof ? { membershipProof } : {}),
    };
    this.unacknowledged = { roundId: update.roundId, header, body: update.body };
    this.reoffers = 0;
    this.offer(header);
    this.emit('trained', { round: header.round, ...(update.loss !== undefined ? { loss: update.loss } : {}), seconds: update.seconds, encoding: update.encoding });
  }

  /** Proves the update's membership (about a second, in a worker) and then offers it. */
  private async proveAndOffer(update: UpdateOutput, member: AnonymousMember): Promise<void> {
    try {
      const proof = await member.proveUpdate(this.jobId, update.roundId, update.body);
      this.offerUpdate(update, Buffer.from(proof).toString('base64url'));
    } catch (error) {
      this.emit('warning', `round ${this.roundNumbers.get(update.roundId) ?? '?'} failed: ${(error as Error).message}`);
      this.send('failed', { roundId: update.roundId, reason: `membership proof: ${(error as Error).message}`.slice(0, 1000) });
    }
  }

  /** Tells the coordinator an update is ready; it is sent when the coordinator pulls it. */
  private offer(header: ClientHeader<'update'>): void {
    this.send('offer', { roundId: header.roundId, round: header.round, bytes: this.unacknowledged?.body.byteLength ?? 0 });
  }

  private send<K extends ClientKind>(kind: K, header: ClientHeader<K>, body?: Uint8Array): void {
    void this.link?.send(kind, header, body);
  }

  private resources(): ResourceMetrics {
    return (this.options.resources ?? hostResources)();
  }
}
