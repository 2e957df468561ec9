import type { WebSocket } from 'ws';
import { CipherNexusError } from '../core/errors.js';
import type { AnonymousAdmission, JobDriver } from '../fl/index.js';
import { ZkProofMalformedError } from '../privacy/zk/index.js';
import { AuthError, FrameVersionError, openSignedFrame, type MessageVerifier } from '../identity/index.js';
import { ClientMessages, PROTOCOL_VERSION, ProtocolError, ProtocolVersionError, SendQueue, ServerMessages, decodeMessage, encodeMessageParts, type ClientHeader, type ServerHeader, type ServerKind } from '../protocol/index.js';
import type { FlowControl, FlowPeer, RoundSlot } from './flow-control.js';
import type { GatewayRefusals } from './gateway-refusals.js';
import type { GatewayDeps } from './participant-gateway.js';
import { TokenBucket } from './token-bucket.js';

/** WebSocket close code for a participant speaking another protocol version (4000-4999 are the application's). */
export const CLOSE_PROTOCOL_VERSION = 4426;

/** The resources a participant reports with a heartbeat. */
export type WireResources = ClientHeader<'heartbeat'>['resources'];

/** What a participant's session reaches in the coordinator. */
export interface SessionContext {
  deps: Pick<GatewayDeps, 'kit' | 'prepared' | 'heartbeatSeconds' | 'limits' | 'metrics' | 'audit' | 'events' | 'refusals' | 'market'>;
  verifier: MessageVerifier;
  /** The kit whose certificate and key the connection uses: the participant's own, or in an anonymous job the members' shared one. */
  signer: string;
  /** An anonymous job's proof checks (set once the job is attached), or undefined: then the signer is the participant. */
  anonymous(): AnonymousAdmission | undefined;
  flow: FlowControl<ParticipantSession>;
  refusals: GatewayRefusals;
  /** The job, or a ROUND_NOT_ACTIVE error while the coordinator is still starting. */
  job(): JobDriver;
  /** Records the participant's heartbeat with the job, the metrics and the dashboard. */
  heartbeat(participantId: string, resources: WireResources): Promise<void>;
  /** Tells the dashboard the participant's state changed. */
  nodeEvent(participantId: string): void;
}

/**
 * One participant's WebSocket: its messages are checked (rate, signature, sender, shape) and handled
 * one after another in arrival order, and what it is sent is written in order.
 */
export class ParticipantSession implements FlowPeer {
  readonly bucket: TokenBucket;
  /** The messages received from this participant, handled one at a time. */
  private queue: Promise<void> = Promise.resolve();
  readonly taskSentAt = new Map<string, number>();
  granted: RoundSlot | null = null;
  delivering: RoundSlot | null = null;
  pendingTask: string | null = null;
  /** In an anonymous job, true once the connection proved membership. */
  private joined = false;
  /** True once the participant said hello and was sent the job's welcome; only then does it get tasks. */
  welcomed = false;
  /** Messages to this participant, written one after another in small fragments. */
  readonly out: SendQueue;

  constructor(
    readonly participantId: string,
    /** The peer's address. */
    readonly source: string,
    readonly socket: WebSocket,
    private readonly context: SessionContext,
    /** The TLS connection under the WebSocket, whose bytes read tell the liveness watch the peer is there. */
    private readonly transport: { readonly bytesRead: number },
  ) {
    this.bucket = new TokenBucket(context.deps.limits.messagesPerSecond, context.deps.limits.burst);
    this.out = new SendQueue(socket);
  }

  /** Bytes read from the participant so far, a message in flight included. */
  bytesRead(): number {
    return this.transport.bytesRead;
  }

  /** Starts reading the participant's messages and records the ones too big to read. */
  listen(): void {
    const { deps, flow } = this.context;
    const { participantId, source } = this;
    this.socket.on('error', (error: Error & { code?: string }) => {
      // ws closes the connection with 1009 itself; the refusal is recorded here, where the participant is known.
      if (error.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return;
      deps.metrics.rejected.inc({ code: 'MESSAGE_TOO_BIG' });
      const detail = `'${participantId}' sent a WebSocket message larger than ${deps.limits.maxMessageBytes} bytes; the connection was closed (1009)`;
      deps.refusals.record({ code: 'MESSAGE_TOO_BIG', source, participant: participantId, detail });
    });
    this.socket.on('message', (data: Buffer, isBinary: boolean) => {
      deps.metrics.bytesIn.inc(data.byteLength);
      flow.received();
      this.queue = this.queue
        .then(() => this.receive(data, isBinary))
        .catch((error: Error) => deps.events.emit('security', { at: Date.now(), kind: 'internal_error', participant: participantId, detail: error.message }))
        .finally(() => flow.handled());
    });
  }

  /** Writes a message to the participant; dropped when the connection is no longer open. */
  send<K extends ServerKind>(kind: K, header: ServerHeader<K>, body?: Uint8Array | readonly Uint8Array[]): Promise<void> {
    if (this.socket.readyState !== this.socket.OPEN) return Promise.resolve();
    const [head] = encodeMessageParts(kind, ServerMessages[kind].parse(header));
    const parts = [head, ...(body === undefined ? [] : body instanceof Uint8Array ? [body] : body)];
    this.context.deps.metrics.bytesOut.inc(parts.reduce((sum, part) => sum + part.byteLength, 0));
    // A failed write means the connection is closing; its close handler cleans up.
    return this.out.send(parts).catch(() => undefined);
  }

  private async receive(data: Buffer, isBinary: boolean): Promise<void> {
    const { deps, flow } = this.context;
    const { participantId } = this;
    let kind = 'message';
    try {
      if (!this.bucket.take()) throw new CipherNexusError('RATE_LIMITED', `'${participantId}' is sending faster than ${deps.limits.messagesPerSecond} messages a second; slow down`);
      if (!isBinary) throw new ProtocolError('MESSAGE_MALFORMED', 'text frames are not part of the protocol; send binary signed frames');
      const frame = openSignedFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.context.verifier);
      if (frame.sender !== this.context.signer) {
        throw new AuthError('AUTH_BAD_SIGNATURE', `the frame is signed by '${frame.sender}' but the connection belongs to '${this.context.signer}'; participants sign with their own kit`);
      }
      const message = decodeMessage(frame.payload, ClientMessages);
      kind = message.kind;
      if (message.kind !== frame.kind) throw new ProtocolError('MESSAGE_INVALID', `the frame was signed as '${frame.kind}' but carries a '${message.kind}' message`);
      const job = this.context.job();
      const anonymous = this.context.anonymous();
      switch (message.kind) {
        case 'hello':
          // The welcome goes first: a task the join hands out must not overtake the job's data rules.
          this.send('welcome', {
            participantId,
            jobId: job.jobId,
            spec: { ...deps.prepared.spec },
            data: deps.prepared.data,
            heartbeatSeconds: deps.heartbeatSeconds,
            ...(deps.market ? { market: deps.market } : {}),
          });
          this.welcomed = true;
          if (message.header.numExamples === undefined) break;
          if (anonymous) {
            // A member joins with a proof bound to this connection's id, which the welcome just told it.
            await anonymous.checkJoin(participantId, proofBytes(message.header.membershipProof, 'hello'));
            this.joined = true;
          }
          // The signing key registered for the connection's kit also signs its SecAgg+ and CKKS round keys; in an
          // anonymous job that is the members' shared kit, so it says "a member" and no more.
          await job.join(participantId, message.header.numExamples, message.header.resources, new Uint8Array(Buffer.from(deps.kit.participants.get(this.context.signer)?.signingPublicKey ?? '', 'base64url')));
          this.context.nodeEvent(participantId);
          break;
        case 'heartbeat':
          await this.context.heartbeat(participantId, message.header.resources);
          break;
        case 'received':
          flow.delivered(this, message.header.roundId);
          break;
        case 'offer': {
          const answer = await job.offer(participantId, message.header.roundId);
          if (answer === 'duplicate') this.send('ack', { roundId: message.header.roundId, outcome: 'duplicate' });
          else flow.requestUpload(this, message.header.roundId);
          break;
        }
        case 'update': {
          if (!flow.mayUpload(this, message.header.roundId)) {
            throw new CipherNexusError('UPDATE_NOT_REQUESTED', `'${participantId}' sent an update for round ${message.header.round} without being pulled; offer it first and send when the coordinator asks`);
          }
          // The signature covers the body's digest, computed here from the bytes: the header's must be the same, and the update is filed under it.
          const signedBody = frame.payload.subarray(frame.bodyAt);
          if (message.body.byteOffset !== signedBody.byteOffset || message.body.byteLength !== signedBody.byteLength) {
            throw new ProtocolError('MESSAGE_INVALID', `the frame's body starts at byte ${frame.bodyAt} of its payload, the update's at another; send frames made by participantFrame`);
          }
          if (message.header.sha256 !== frame.bodySha256) {
            throw new ProtocolError('MESSAGE_INVALID', `the update's header gives sha256 ${message.header.sha256} but its body hashes to ${frame.bodySha256}; put the body's own digest in the header`);
          }
          const sentAt = this.taskSentAt.get(message.header.roundId);
          const { round: _round, sha256: _sha256, membershipProof, ...update } = message.header;
          if (anonymous) {
            if (!this.joined) throw new CipherNexusError('UPDATE_NOT_PARTICIPANT', 'this connection has not proved membership; say hello with a membership proof first');
            await anonymous.admitUpdate(message.header.roundId, new Uint8Array(message.body), proofBytes(membershipProof, 'update')).catch((error: { code?: string }) => {
              // The member already sent this round's update over another connection: the round need not wait for this one.
              if (error.code === 'ZK_NULLIFIER_REUSED') job.excuse(participantId, message.header.roundId);
              throw error;
            });
          }
          // The body is handed on as the view it arrived in: a copy of every update (hundreds of KB) costs the coordinator garbage collections.
          const outcome = await job.submit(participantId, { ...update, body: message.body, sha256: frame.bodySha256 });
          deps.metrics.updates.inc({ outcome });
          if (sentAt !== undefined && outcome === 'accepted') deps.metrics.updateLatency.observe((Date.now() - sentAt) / 1000);
          await deps.audit.append('update.' + outcome, participantId, { roundId: message.header.roundId, round: message.header.round, sha256: message.header.sha256, numExamples: message.header.numExamples });
          this.send('ack', { roundId: message.header.roundId, outcome });
          flow.releaseUpload(this);
          break;
        }
        case 'stage':
          await job.receiveStage(participantId, { ...message.header, body: new Uint8Array(message.body) });
          break;
        case 'failed':
          await deps.audit.append('task.failed', participantId, { roundId: message.header.roundId, reason: message.header.reason });
          break;
        case 'refuse': {
          // A data owner's agent that will not serve this job says why before it leaves: the operator sees the reason.
          const detail = `'${participantId}' refuses to serve job ${job.jobId}: ${message.header.code}: ${message.header.message}`;
          await deps.audit.append('participant.refused_job', participantId, { jobId: job.jobId, code: message.header.code, message: message.header.message });
          deps.events.emit('security', { at: Date.now(), kind: 'participant_refused_job', participant: participantId, detail });
          break;
        }
      }
    } catch (error) {
      const refusal = this.context.refusals.refuse(error, participantId, kind, this.source);
      if (kind === 'update') {
        deps.metrics.updates.inc({ outcome: 'rejected' });
        // An update refused for not being pulled leaves a slot it holds for another round alone.
        if ((error as CipherNexusError).code !== 'UPDATE_NOT_REQUESTED') flow.releaseUpload(this);
      }
      const sent = this.send('error', { code: refusal.code, message: refusal.message });
      // A peer of another protocol version may not read that error; the close reason reaches any version.
      if (error instanceof ProtocolVersionError) await sent.then(() => this.socket.close(CLOSE_PROTOCOL_VERSION, `protocol version ${error.peer} refused: the coordinator speaks version ${PROTOCOL_VERSION}`));
      // An agent of a release before signed frames v2 reads the same close: it stops instead of retrying.
      if (error instanceof FrameVersionError) await sent.then(() => this.socket.close(CLOSE_PROTOCOL_VERSION, `signed frame version ${error.peer} refused: the coordinator reads version ${error.own}`));
    }
  }
}

/** The proof bytes a message of an anonymous job carries, or a ZK_PROOF_MALFORMED error when it carries none. */
function proofBytes(proof: string | undefined, kind: 'hello' | 'update'): Uint8Array {
  if (proof === undefined) throw new ZkProofMalformedError(`this job is anonymous: a ${kind} carries a membership proof (membershipProof); run the client with --identity and --members`);
  return new Uint8Array(Buffer.from(proof, 'base64url'));
}
