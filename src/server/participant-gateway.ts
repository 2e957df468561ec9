import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { CipherNexusError } from '../core/errors.js';
import type { ResourceMetrics } from '../core/index.js';
import type { AnonymousAdmission, JobDriver, OutboundStageMessage, ParticipantChannel, PreparedCoordinatedJob, RemoteTask } from '../fl/index.js';
import { AuthError, MessageVerifier, participantOfCertificate, directoryOfServerKit, verifyRequest, type ServerKit } from '../identity/index.js';
import { ClientMessages, ProtocolError, weightsBody, type ServerHeader } from '../protocol/index.js';
import type { ServerEvents } from './events.js';
import { FlowControl } from './flow-control.js';
import { GatewayRefusals } from './gateway-refusals.js';
import { LivenessWatch, defaultSilenceSeconds } from './liveness-watch.js';
import type { CoordinatorMetrics } from './metrics.js';
import { ParticipantSession, type WireResources } from './participant-session.js';
import type { RefusalTally } from './refusal-tally.js';
import { RevocationWatch } from './revocation-watch.js';
import { TokenBucket } from './token-bucket.js';

/** Limits that keep one participant from flooding the coordinator. */
export interface GatewayLimits {
  /** Messages per second a participant may send, sustained, and the burst allowed above it. */
  messagesPerSecond: number;
  burst: number;
  /** Largest WebSocket message, bytes; bigger ones close the connection (1009). */
  maxMessageBytes: number;
  /** Largest REST body, bytes. */
  maxBodyBytes: number;
}

/** Where the gateway records what happened; appends never reject (a failure is reported elsewhere). */
export interface AuditSink {
  append(kind: string, actor: string, details: Readonly<Record<string, unknown>>): Promise<unknown>;
}

/** What the gateway needs from the coordinator. */
export interface GatewayDeps {
  kit: ServerKit;
  /** The provisioning directory, whose revocation list is re-read on every connection. */
  kitDir: string;
  prepared: PreparedCoordinatedJob;
  numParams: number;
  events: ServerEvents;
  metrics: CoordinatorMetrics;
  audit: AuditSink;
  /** Where refusals before a message is read (size limits) are counted, listed and audited per source. */
  refusals: RefusalTally;
  heartbeatSeconds: number;
  /** A connection from which nothing arrives for this long, pings unanswered, is closed; `defaultSilenceSeconds` by default. */
  silenceSeconds?: number;
  limits: GatewayLimits;
  /** A job bought on the data market: the grant and job configuration every welcome carries. */
  market?: { grant: unknown; config: Record<string, unknown> };
}

/**
 * The participants' side of the coordinator: a WebSocket per participant over mutual TLS for round
 * traffic, and signed REST for heartbeats. Every connection is mapped to a provisioned participant
 * by its certificate; every message must be signed by that same participant, fresh, well formed and
 * within its rate; anything else is refused with a clear error, counted, logged as a security event
 * and written to the audit trail, and changes nothing.
 */
export class ParticipantGateway implements ParticipantChannel {
  private readonly sessions = new Map<string, ParticipantSession>();
  /** REST rate limits, per provisioned participant (so at most one bucket per kit). */
  private readonly restBuckets = new Map<string, TokenBucket>();
  private readonly flow: FlowControl<ParticipantSession>;
  private readonly revocations: RevocationWatch;
  private readonly liveness: LivenessWatch;
  private readonly refusals: GatewayRefusals;
  private readonly verifier: MessageVerifier;
  private job: JobDriver | null = null;
  private anonymous: AnonymousAdmission | undefined;

  constructor(private readonly deps: GatewayDeps) {
    this.flow = new FlowControl({
      peers: () => this.sessions.values(),
      isCurrent: (session) => this.sessions.get(session.participantId) === session,
      pull: (session, roundId) => session.send('pull', { roundId }),
    });
    this.revocations = new RevocationWatch(deps, () => this.sessions.values());
    const silenceMs = 1000 * (deps.silenceSeconds ?? defaultSilenceSeconds(deps.heartbeatSeconds));
    this.liveness = new LivenessWatch(
      { silenceMs, intervalMs: Math.min(1000 * deps.heartbeatSeconds, silenceMs / 4), readingPaused: () => this.flow.paused, events: deps.events, audit: deps.audit },
      () => this.sessions.values(),
    );
    this.refusals = new GatewayRefusals(deps);
    const directory = directoryOfServerKit(deps.kit);
    // The nonces an earlier coordinator process accepted are gone with it; what it accepted was
    // stamped before this start, so nothing signed before it is accepted (no write per message).
    this.verifier = new MessageVerifier({ signingKeyOf: (id) => directory.signingKeyOf(id), isRevoked: (id) => this.revocations.isRevoked(id) }, { notBefore: Date.now() });
    this.revocations.refresh();
  }

  /** The job whose rounds this gateway carries; with `anonymous`, its members prove membership instead of naming themselves. */
  attach(job: JobDriver, anonymous?: AnonymousAdmission): void {
    this.job = job;
    this.anonymous = anonymous;
    this.revocations.start();
    this.liveness.start();
  }

  /** Reads the revocation list again and closes the connections of participants on it (also called right after an operator revokes). */
  enforceRevocations(): void {
    this.revocations.enforce();
  }

  /** Participants connected now. */
  get connectedCount(): number {
    return this.sessions.size;
  }

  /** Adds the participant routes to a fastify app served over mutual TLS. */
  async register(app: FastifyInstance): Promise<void> {
    const { limits } = this.deps;
    await app.register(async (scope) => {
      scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: limits.maxBodyBytes }, (_req, body, done) => done(null, body));
      scope.addHook('preValidation', async (request, reply) => {
        const participant = this.authenticateConnection(request, reply);
        if (!participant) return reply;
        (request as FastifyRequest & { participant?: string }).participant = participant;
      });
      scope.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
        if (error.statusCode !== 413) {
          // Anything else is fastify's to answer, as before.
          throw error;
        }
        const participant = this.participantOf(request);
        this.deps.metrics.rejected.inc({ code: 'BODY_TOO_LARGE' });
        const message = `the body of ${request.method} ${request.url.slice(0, 100)} is larger than ${limits.maxBodyBytes} bytes; send at most that`;
        this.deps.refusals.record({ code: 'BODY_TOO_LARGE', source: request.socket.remoteAddress ?? 'unknown', ...(participant ? { participant } : {}), detail: message });
        return reply.code(413).send({ error: { code: 'BODY_TOO_LARGE', message } });
      });
      scope.get('/v1/ws', { websocket: true }, (socket, request) => {
        this.open(socket, request.socket, (request as FastifyRequest & { participant: string }).participant, request.socket.remoteAddress ?? 'unknown');
      });
      scope.post('/v1/heartbeat', async (request, reply) => this.restHeartbeat(request as FastifyRequest & { participant: string }, reply));
    });
  }

  /** The participant whose certificate the request came with, or undefined when it is none of this job's. */
  private participantOf(request: FastifyRequest): string | undefined {
    try {
      return participantOfCertificate((request.raw.socket as TLSSocket).getPeerCertificate?.() ?? {}, this.deps.kit);
    } catch {
      return undefined;
    }
  }

  /** Maps the TLS peer certificate to a participant, or answers 401/403 and returns undefined. */
  private authenticateConnection(request: FastifyRequest, reply: FastifyReply): string | undefined {
    try {
      this.revocations.refresh();
      const peer = (request.raw.socket as TLSSocket).getPeerCertificate?.() ?? {};
      const id = participantOfCertificate(peer, this.deps.kit);
      if (this.revocations.isRevoked(id)) throw new AuthError('AUTH_REVOKED', `participant '${id}' has been revoked from this job; ask the job's operator`);
      return id;
    } catch (error) {
      const refusal = this.refusals.refuse(error, undefined, `connection to ${request.url.slice(0, 100)}`, request.socket.remoteAddress ?? 'unknown');
      void reply.code(refusal.status).send({ error: { code: refusal.code, message: refusal.message } });
      return undefined;
    }
  }

  private async restHeartbeat(request: FastifyRequest & { participant: string }, reply: FastifyReply): Promise<unknown> {
    const participant = request.participant;
    try {
      const body = Buffer.isBuffer(request.body) ? new Uint8Array(request.body) : new Uint8Array(0);
      const bucket = this.restBuckets.get(participant) ?? new TokenBucket(this.deps.limits.messagesPerSecond, this.deps.limits.burst);
      this.restBuckets.set(participant, bucket);
      if (!bucket.take()) throw new CipherNexusError('RATE_LIMITED', `'${participant}' is sending faster than ${this.deps.limits.messagesPerSecond} messages a second; slow down`);
      const verified = verifyRequest(request.headers, request.method, request.url, body, this.verifier);
      if (verified.sender !== participant) throw new AuthError('AUTH_BAD_SIGNATURE', `the request is signed by '${verified.sender}' but the connection belongs to '${participant}'`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(body).toString('utf8'));
      } catch {
        throw new ProtocolError('MESSAGE_MALFORMED', 'the heartbeat body is not JSON; send {"resources": {...}}');
      }
      const check = ClientMessages.heartbeat.safeParse(parsed);
      if (!check.success) throw new ProtocolError('MESSAGE_INVALID', `heartbeat field '${check.error.issues[0].path.join('.')}': ${check.error.issues[0].message}`);
      await this.heartbeat(participant, check.data.resources);
      return { ok: true };
    } catch (error) {
      const refusal = this.refusals.refuse(error, participant, 'heartbeat', request.socket.remoteAddress ?? 'unknown');
      return reply.code(refusal.status).send({ error: { code: refusal.code, message: refusal.message } });
    }
  }

  private open(socket: WebSocket, transport: { readonly bytesRead: number }, signer: string, source: string): void {
    // In an anonymous job the certificate and signing key are shared by all members: the connection gets a random id
    // that names it to the job and in every record, and says nothing about which member holds it.
    const participantId = this.deps.prepared.config.privacy.anonymous ? `anon-${randomBytes(9).toString('base64url')}` : signer;
    const previous = this.sessions.get(participantId);
    // A participant reconnecting replaces its old connection; tasks go to the newest one.
    if (previous) previous.socket.close(4000, 'replaced by a newer connection');
    const session = new ParticipantSession(participantId, source, socket, {
      signer,
      anonymous: () => this.anonymous,
      deps: this.deps,
      verifier: this.verifier,
      flow: this.flow,
      refusals: this.refusals,
      job: () => this.requireJob(),
      heartbeat: (id, resources) => this.heartbeat(id, resources),
      nodeEvent: (id) => this.nodeEvent(id),
    }, transport);
    this.sessions.set(participantId, session);
    this.deps.metrics.connected.set(this.sessions.size);
    void this.deps.audit.append('participant.connected', participantId, {});
    if (this.flow.paused) socket.pause();
    session.listen();
    socket.on('close', () => {
      this.flow.forget(session);
      if (this.sessions.get(participantId) !== session) return;
      this.sessions.delete(participantId);
      this.deps.metrics.connected.set(this.sessions.size);
      void this.deps.audit.append('participant.disconnected', participantId, {});
      void this.job
        ?.leave(participantId)
        .then(() => this.nodeEvent(participantId))
        .catch((error: Error) => this.deps.events.emit('security', { at: Date.now(), kind: 'internal_error', participant: participantId, detail: `leave: ${error.message}` }));
    });
  }

  private async heartbeat(participantId: string, resources: WireResources): Promise<void> {
    await this.requireJob().heartbeat(participantId, resources);
    if (resources.cpuLoad !== undefined) this.deps.metrics.nodeCpu.set({ node: participantId }, resources.cpuLoad);
    if (resources.memoryLoad !== undefined) this.deps.metrics.nodeMemory.set({ node: participantId }, resources.memoryLoad);
    this.nodeEvent(participantId, resources);
  }

  private nodeEvent(participantId: string, resources?: ResourceMetrics): void {
    this.deps.events.emit('node', {
      id: participantId,
      status: this.sessions.has(participantId) ? 'online' : 'offline',
      lastHeartbeat: Date.now(),
      ...(resources ? { resources } : {}),
    });
  }

  private requireJob(): JobDriver {
    if (!this.job) throw new CipherNexusError('ROUND_NOT_ACTIVE', 'the coordinator is still starting; connect again in a moment');
    return this.job;
  }

  /** Sends a round's task with the global weights; false when the participant is not connected. */
  sendTask(participantId: string, task: RemoteTask, weights: Float32Array): boolean {
    const session = this.sessions.get(participantId);
    if (!session?.welcomed) return false;
    const { jobId: _jobId, ...header } = task satisfies ServerHeader<'task'> & { jobId: string };
    this.flow.deliverTask(session, task.roundId, () => {
      session.taskSentAt.set(task.roundId, Date.now());
      session.send('task', header, weightsBody(weights));
    });
    return true;
  }

  /** Sends a protection protocol message (keys, shares, signatures, a forwarded ciphertext); false when the participant is not connected. */
  sendStage(participantId: string, message: OutboundStageMessage): boolean {
    const session = this.sessions.get(participantId);
    if (!session?.welcomed) return false;
    const { body, ...header } = message;
    session.send('stage', header as ServerHeader<'stage'>, body);
    return true;
  }

  /** Tells every connected participant that the job ended. */
  announceDone(jobId: string, status: 'completed' | 'failed', accuracy?: number): void {
    for (const session of this.sessions.values()) session.send('done', { jobId, status, ...(accuracy !== undefined ? { accuracy } : {}) });
  }

  /** Closes the connections of participants whose address the firewall now denies (its rules were just replaced). */
  enforceFirewall(decide: (address: string) => { allowed: boolean; reason: string }): void {
    for (const session of this.sessions.values()) {
      const decision = decide(session.source);
      if (decision.allowed) continue;
      this.deps.events.emit('security', { at: Date.now(), kind: 'firewall_denied', participant: session.participantId, detail: `connection from ${session.source} closed: the job's firewall now refuses it (${decision.reason})` });
      void this.deps.audit.append('security.firewall_denied', session.participantId, { source: session.source, reason: decision.reason, what: 'connection closed' });
      session.socket.close(4403, 'refused by the firewall');
    }
  }

  /** Closes every participant connection once queued messages are written (the coordinator is shutting down). */
  async closeAll(): Promise<void> {
    this.revocations.stop();
    this.liveness.stop();
    // Let the last messages (the job's end) reach the participants, but not for long.
    const sessions = [...this.sessions.values()];
    await Promise.race([Promise.all(sessions.map((s) => s.out.idle())), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    for (const session of sessions) session.socket.close(1001, 'coordinator shutting down');
    this.sessions.clear();
  }
}
