import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CipherNexusError } from '../core/errors.js';
import { coordinatorAddresses } from './coordinator-addresses.js';
import type { ResourceMetrics } from '../core/index.js';
import { EXAMPLES_REDECLARED, weightsSha256 } from '../fl/index.js';
import { signerFromKit, type MessageSigner, type ParticipantKit } from '../identity/index.js';
import { PROTOCOL_VERSION, ProtocolVersionError, ServerMessages, bodyWeights, decodeMessage, weightsBody, type ClientHeader, type ClientKind, type Message, type ServerHeader } from '../protocol/index.js';
import { hostResources } from './agent.js';
import { Uplink } from './uplink.js';

/** The edge's link to its upstream coordinator failed for good (refused, another protocol version, a job it cannot serve). */
export class EdgeUplinkError extends CipherNexusError {}

/** How an edge reaches the coordinator of the tier above. */
export interface EdgeUplinkOptions {
  /** The edge's participant kit, provisioned by the upstream coordinator's operator. */
  kit: ParticipantKit;
  /** Overrides the kit's coordinator address. */
  serverUrl?: string;
  /** Reconnection back-off: first wait and ceiling, ms. */
  backoff?: { initialMs: number; maxMs: number };
  resources?: () => ResourceMetrics;
}

/** A round of the upstream job, as the edge runs it for its own participants. */
export interface UpstreamTask {
  header: ServerHeader<'task'>;
  weights: Float32Array;
}

/** How the upstream job ended, as its coordinator announced it. */
export type UpstreamEnd = ServerHeader<'done'>;

type ServerMessage = Message<typeof ServerMessages>;
// Refusals of an update that say "not now" rather than "never".
const RETRYABLE = new Set(['RATE_LIMITED', 'INTERNAL', 'UPDATE_NOT_REQUESTED']);
const MAX_REOFFERS = 5;

/**
 * An edge's participant side towards the upstream coordinator: mutual TLS and signed frames as a
 * `client`, one hello declaring the group's examples, the upstream's tasks handed to the edge's round
 * loop one at a time, and one update per round offered, sent when pulled and sent again until acknowledged.
 */
export class EdgeUplink extends EventEmitter {
  private readonly signer: MessageSigner;
  /** The coordinator's addresses, tried in turn. */
  private readonly urls: string[];
  private attempts = 0;
  private link: Uplink | null = null;
  private numExamples = 0;
  private checkWelcome: (welcome: ServerHeader<'welcome'>) => void = () => undefined;
  private started = false;
  private stopped = false;
  /** The newest upstream task not yet handed to the edge's round loop. */
  private waiting: UpstreamTask | null = null;
  private readonly taken = new Set<string>();
  private wake: (() => void) | null = null;
  private unacknowledged: { roundId: string; header: ClientHeader<'update'>; body: Uint8Array } | null = null;
  private reoffers = 0;
  private end: UpstreamEnd | null = null;
  private fatal: Error | null = null;
  private finished!: (end: UpstreamEnd) => void;
  private broke!: (error: Error) => void;
  /** Settles when the upstream coordinator announces the job's end; rejects when the link fails for good. */
  readonly done: Promise<UpstreamEnd>;

  constructor(private readonly options: EdgeUplinkOptions) {
    super();
    this.signer = signerFromKit(options.kit);
    this.urls = coordinatorAddresses(options.serverUrl, options.kit.coordinatorUrl, 'upstream');
    this.done = new Promise((resolve, reject) => {
      this.finished = resolve;
      this.broke = reject;
    });
    this.done.catch(() => undefined);
  }

  /** Whether `start` was called. */
  get connecting(): boolean {
    return this.started;
  }

  /** Whether an upstream task arrived that the edge has not taken yet. */
  get taskWaiting(): boolean {
    return this.waiting !== null;
  }

  /** Connects (and reconnects after a drop) declaring `numExamples`, the edge group's total; `checkWelcome` throws when the upstream job is not the one the edge runs. */
  start(numExamples: number, checkWelcome: (welcome: ServerHeader<'welcome'>) => void): void {
    if (this.started) return;
    this.started = true;
    this.numExamples = numExamples;
    this.checkWelcome = checkWelcome;
    void this.loop();
  }

  /** The next upstream task the edge has not run; undefined once the upstream job ended. Rejects when the link failed for good. */
  async nextTask(signal: AbortSignal): Promise<UpstreamTask | undefined> {
    for (;;) {
      if (this.fatal) throw this.fatal;
      if (this.waiting) {
        const task = this.waiting;
        this.waiting = null;
        this.taken.add(task.header.roundId);
        return task;
      }
      if (this.end || this.stopped) return undefined;
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done);
          this.wake = null;
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done);
      });
    }
  }

  /** Offers the edge's answer to an upstream round: its group's weighted mean, weighing `numExamples`. */
  answer(task: UpstreamTask, weights: Float32Array, numExamples: number, seconds: number): void {
    const body = weightsBody(weights);
    const header: ClientHeader<'update'> = {
      roundId: task.header.roundId,
      round: task.header.round,
      // The hello fixed the most this edge may claim for the job; a group that grew since weighs at most that.
      numExamples: Math.min(numExamples, this.numExamples),
      seconds,
      encoding: 'float32',
      sha256: createHash('sha256').update(body).digest('hex'),
    };
    if (numExamples > this.numExamples) this.emit('warning', `round ${task.header.round}: the group trained on ${numExamples} examples, more than the ${this.numExamples} this edge declared; it weighs ${this.numExamples} upstream`);
    this.unacknowledged = { roundId: header.roundId, header, body };
    this.reoffers = 0;
    this.offer();
  }

  /** Closes the link; `nextTask` then answers undefined. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.link?.close();
  }

  private async loop(): Promise<void> {
    const backoff = this.options.backoff ?? { initialMs: 250, maxMs: 5000 };
    let wait = backoff.initialMs;
    while (!this.stopped && !this.end && !this.fatal) {
      const opened = await this.connectOnce();
      if (this.stopped || this.end || this.fatal) break;
      if (opened) wait = backoff.initialMs;
      const delay = Math.min(backoff.maxMs, wait) * (0.5 + Math.random() / 2);
      this.emit('reconnecting', { delayMs: Math.round(delay), connectedBefore: opened });
      await new Promise((resolve) => setTimeout(resolve, delay));
      wait = Math.min(backoff.maxMs, wait * 2);
    }
    if (this.fatal) this.broke(this.fatal);
    else if (this.end) this.finished(this.end);
    else this.broke(new EdgeUplinkError('EDGE_UPLINK_STOPPED', 'the edge was stopped before the upstream job ended'));
    this.wake?.();
  }

  private connectOnce(): Promise<boolean> {
    return new Promise((resolve) => {
      let opened = false;
      // After a failed or lost connection the next address is tried: a standby root takes over at its own.
      const link = new Uplink({ url: this.urls[this.attempts++ % this.urls.length], kit: this.options.kit, signer: this.signer, resources: () => this.resources() });
      this.link = link;
      const { socket } = link;
      socket.on('open', () => {
        opened = true;
        this.emit('connected');
        this.send('hello', { numExamples: this.numExamples, resources: this.resources(), agent: 'cipher-nexus-edge/0.1' });
      });
      socket.on('message', (raw: Buffer) => {
        try {
          this.handle(decodeMessage(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), ServerMessages));
        } catch (error) {
          if (error instanceof ProtocolVersionError) {
            this.fail(new EdgeUplinkError('CLIENT_PROTOCOL_VERSION', `the upstream coordinator speaks protocol version ${error.peer}, this edge speaks version ${PROTOCOL_VERSION}; install the release it runs`));
          } else if (error instanceof CipherNexusError && error.code.startsWith('EDGE_')) this.fail(error);
          else this.emit('warning', `ignored a message of the upstream coordinator: ${(error as Error).message}`);
        }
      });
      socket.on('error', (error) => {
        const refused = /Unexpected server response: (401|403)/.exec(error.message);
        if (refused) this.fail(new EdgeUplinkError('CLIENT_REFUSED', `the upstream coordinator refused this edge (HTTP ${refused[1]}); it may have been revoked: ask its operator`));
        else this.emit('warning', `upstream connection error: ${error.message}`);
      });
      socket.on('close', (code, reason) => {
        this.link = null;
        if (code === 4401 || code === 4403 || code === 4426) this.fail(new EdgeUplinkError('CLIENT_REFUSED', `the upstream coordinator refused this edge: ${reason.toString() || code}`));
        resolve(opened);
      });
    });
  }

  private handle(message: ServerMessage): void {
    switch (message.kind) {
      case 'welcome':
        this.checkWelcome(message.header);
        this.link?.keepAlive(message.header.heartbeatSeconds);
        this.emit('welcome', message.header);
        return;
      case 'task': {
        this.send('received', { roundId: message.header.roundId });
        if (this.unacknowledged?.roundId === message.header.roundId) return this.offer();
        if (this.taken.has(message.header.roundId)) return;
        const weights = bodyWeights(message.body, message.body.byteLength / 4);
        if (weightsSha256(weights) !== message.header.sha256) {
          this.send('failed', { roundId: message.header.roundId, reason: `round ${message.header.round}'s model does not match its sha256` });
          return;
        }
        this.waiting = { header: message.header, weights };
        this.emit('task', message.header);
        this.wake?.();
        return;
      }
      case 'stage':
        this.emit('warning', `ignored a '${message.header.protocol}' message: an edge runs plain rounds only`);
        return;
      case 'pull':
        if (this.unacknowledged?.roundId === message.header.roundId) this.send('update', this.unacknowledged.header, this.unacknowledged.body);
        return;
      case 'ack':
        if (this.unacknowledged?.roundId === message.header.roundId) this.unacknowledged = null;
        this.emit('ack', message.header);
        return;
      case 'error':
        this.emit('refused', message.header);
        if (message.header.code.startsWith('AUTH_') || message.header.code === EXAMPLES_REDECLARED) {
          this.fail(new EdgeUplinkError(message.header.code, `the upstream coordinator refused a message: ${message.header.message}`));
          return;
        }
        if (this.unacknowledged && RETRYABLE.has(message.header.code) && this.reoffers < MAX_REOFFERS) {
          this.reoffers++;
          const pending = this.unacknowledged.header;
          setTimeout(() => this.unacknowledged?.header === pending && this.offer(), 1000).unref();
        }
        return;
      case 'done':
        this.end = message.header;
        this.wake?.();
        this.link?.close();
        return;
    }
  }

  private fail(error: Error): void {
    this.fatal ??= error;
    this.wake?.();
    this.link?.close();
  }

  private offer(): void {
    const pending = this.unacknowledged;
    if (pending) this.send('offer', { roundId: pending.roundId, round: pending.header.round, bytes: pending.body.byteLength });
  }

  private send<K extends ClientKind>(kind: K, header: ClientHeader<K>, body?: Uint8Array): void {
    void this.link?.send(kind, header, body);
  }

  private resources(): ResourceMetrics {
    return (this.options.resources ?? hostResources)();
  }
}
