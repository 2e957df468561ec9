import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { AuditTrail, type Storage } from '../core/index.js';
import { openCoordinatedJob, type JobDriver, type JobOutcome, type PreparedCoordinatedJob, type RoundReport } from '../fl/index.js';
import { LocalModel, initBackend } from '../ml/index.js';
import { loadServerKit, serverKitPath, tlsOptionsForServer } from '../identity/index.js';
import { ServerEvents } from './events.js';
import { CoordinatorMetrics } from './metrics.js';
import { registerOperatorApi } from './operator-api.js';
import { RefusalTally } from './refusal-tally.js';
import { createMutualTlsServer } from './tls-server.js';
import { ParticipantGateway, type AuditSink, type GatewayLimits } from './participant-gateway.js';

/** How a coordinator is started. */
export interface CoordinatorOptions {
  prepared: PreparedCoordinatedJob;
  storage: Storage;
  /** The `provision` output directory: server kit, participants' registry, revocation list. */
  kitDir: string;
  /** Participant listener (mutual TLS); the kit's address by default. */
  host?: string;
  port?: number;
  /** Operator listener (dashboard, REST, /metrics, /health, /ready): loopback by default, port 0 picks one. */
  operatorHost?: string;
  operatorPort?: number;
  auditFile: string;
  heartbeatSeconds?: number;
  limits?: Partial<GatewayLimits>;
  /** How long refusals from one source are aggregated into one security event and one audit entry, ms; one minute by default. */
  refusalWindowMs?: number;
  /** Structured log level of both listeners (pino), written to stderr. */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
}

/** A coordinator that is serving: its addresses, its job, and how to stop it. */
export interface RunningCoordinator {
  participantUrl: string;
  operatorUrl: string;
  job: JobDriver;
  events: ServerEvents;
  metrics: CoordinatorMetrics;
  /** Settles when the job ends. */
  done: Promise<JobOutcome>;
  close(): Promise<void>;
}

/**
 * Starts the coordinator: the participants' gateway over mutual TLS, the operator's listener with the
 * dashboard and monitoring, and the job (taken over from the store when a previous process left it running).
 */
export async function startCoordinator(options: CoordinatorOptions): Promise<RunningCoordinator> {
  const kit = loadServerKit(serverKitPath(options.kitDir));
  const kitUrl = new URL(kit.coordinatorUrl);
  const events = new ServerEvents();
  const metrics = new CoordinatorMetrics();
  // A coordinator killed mid-append leaves a torn last line; it is cut off and the repair itself recorded.
  const trail = await AuditTrail.open(options.auditFile, { repairTornTail: true });
  // An audit write that fails (disk full) must not crash the coordinator: it is raised as a security event instead.
  const audit: AuditSink = {
    append: (kind, actor, details) =>
      trail.append(kind, actor, details).catch((error: Error) => {
        events.emit('security', { at: Date.now(), kind: 'audit_failed', detail: `audit trail write of '${kind}' failed: ${error.message}` });
      }),
  };
  // Refusals anyone who reaches the port can cause as fast as they connect: counted at once, listed and audited once per source and minute.
  const refusals = new RefusalTally({ events, audit, counter: metrics.refusalsBySource, windowMs: options.refusalWindowMs });
  const numParams = await parameterCount(options.prepared);
  const limits: GatewayLimits = {
    messagesPerSecond: 20,
    burst: 40,
    maxMessageBytes: largestUpdateBytes(options.prepared, numParams) + 128 * 1024,
    maxBodyBytes: 64 * 1024,
    ...options.limits,
  };
  const gateway = new ParticipantGateway({ kit, kitDir: options.kitDir, prepared: options.prepared, numParams, events, metrics, audit, refusals, heartbeatSeconds: options.heartbeatSeconds ?? 5, limits });
  // Logs go to stderr: stdout carries the command's result (the report, as JSON with --json).
  const logger = { level: options.logLevel ?? 'info', stream: process.stderr };

  const participants = fastify({
    logger,
    bodyLimit: limits.maxBodyBytes,
    serverFactory: (handler) => createMutualTlsServer(tlsOptionsForServer(kit), handler),
    // At shutdown every participant connection is closed at once, also idle ones and half-made handshakes.
    forceCloseConnections: true,
  });
  participants.server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
    metrics.authFailures.inc({ code: 'TLS_HANDSHAKE' });
    refusals.record({ code: 'TLS_HANDSHAKE', source: socket.remoteAddress ?? 'unknown', detail: `TLS handshake refused: ${error.message}` });
  });
  await participants.register(websocket, { options: { maxPayload: limits.maxMessageBytes } });
  await gateway.register(participants);

  const operator = fastify({ logger });
  let ready = false;
  operator.get('/health', async () => ({ status: 'ok' }));
  operator.get('/ready', async (_request, reply) => {
    if (!ready) return reply.code(503).send({ status: 'starting' });
    await options.storage.jobs.get(job.jobId);
    return { status: 'ready', job: job.jobId, participants: gateway.connectedCount };
  });
  operator.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4').send(await metrics.text()));
  await registerOperatorApi(operator, { storage: options.storage, events });

  const job = await openCoordinatedJob(options.prepared, options.storage, gateway);
  gateway.attach(job);
  job.on('round', (round: RoundReport) => {
    metrics.rounds.inc();
    metrics.roundSeconds.observe(round.seconds);
    metrics.accuracy.set({ job: job.jobId }, round.accuracy);
    events.emit('round', { jobId: job.jobId, round });
    participants.log.info({ job: job.jobId, round: round.round, accuracy: round.accuracy, seconds: round.seconds }, 'round finalised');
    void audit.append('round.finalized', 'coordinator', { job: job.jobId, round: round.round, modelVersion: round.modelVersion, accuracy: round.accuracy });
    if (round.accuracyDrop) {
      const { previous, margin } = round.accuracyDrop;
      events.emit('security', { at: Date.now(), kind: 'accuracy_drop', detail: `round ${round.round}: held-out accuracy fell from ${previous.toFixed(4)} to ${round.accuracy.toFixed(4)}, more than the job's margin of ${margin}; check this round's participants` });
      void audit.append('security.accuracy_drop', 'coordinator', { job: job.jobId, round: round.round, previous, accuracy: round.accuracy, margin });
    }
  });
  job.on('restarted', (info: { round: number }) => {
    participants.log.warn({ job: job.jobId, ...info }, 'a protected round was open at a restart; it starts again as a new round');
    void audit.append('round.restarted', 'coordinator', { job: job.jobId, ...info });
  });
  job.on('round-failed', (info: { roundId: string; code: string; reason: string }) => {
    participants.log.warn({ job: job.jobId, ...info }, 'round failed; a new round starts');
    void audit.append('round.failed', 'coordinator', { job: job.jobId, ...info });
  });
  job.on('refused', (info: { participantId: string; code: string; message: string }) => {
    metrics.rejected.inc({ code: info.code });
    events.emit('security', { at: Date.now(), kind: 'message_rejected', participant: info.participantId, detail: `${info.code}: ${info.message}` });
    void audit.append('security.message_rejected', info.participantId, { code: info.code });
  });
  job.on('resumed', (info: { round: number; accepted: number }) => {
    participants.log.warn({ job: job.jobId, ...info }, 'resumed an open round after a restart');
    void audit.append('round.resumed', 'coordinator', { job: job.jobId, ...info });
  });

  await participants.listen({
    host: options.host ?? kitUrl.hostname,
    port: options.port ?? Number(kitUrl.port || 443),
    // fastify cannot tell that the factory's server speaks TLS, and would log http://.
    listenTextResolver: (address) => `Server listening at ${address.replace(/^http:/, 'https:')}`,
  });
  await operator.listen({ host: options.operatorHost ?? '127.0.0.1', port: options.operatorPort ?? 8080 });
  ready = true;
  await audit.append(job.resumed ? 'job.resumed' : 'job.started', 'coordinator', { job: job.jobId, name: options.prepared.config.name });
  events.emit('job', { jobId: job.jobId, name: options.prepared.config.name, status: 'running', rounds: options.prepared.config.rounds });

  const abort = new AbortController();
  const done = job.run(abort.signal).then(
    async (report: JobOutcome) => {
      events.emit('job', { jobId: job.jobId, name: report.name, status: report.status, rounds: options.prepared.config.rounds });
      for (const warning of report.warnings) participants.log.warn({ job: job.jobId, code: warning.code }, warning.message);
      // A model that missed a validation threshold ends the job failed, with the thresholds it missed as the reason.
      await audit.append(
        report.status === 'completed' ? 'job.completed' : 'job.failed',
        'coordinator',
        report.status === 'completed'
          ? { job: job.jobId, accuracy: report.final?.accuracy ?? null, sha256: report.model.sha256 }
          : { job: job.jobId, error: report.validation.failures.map((f) => f.message).join('; '), sha256: report.model.sha256 },
      );
      return report;
    },
    async (error: Error) => {
      if (!abort.signal.aborted) {
        events.emit('job', { jobId: job.jobId, name: options.prepared.config.name, status: 'failed', rounds: options.prepared.config.rounds });
        await audit.append('job.failed', 'coordinator', { job: job.jobId, error: error.message });
      }
      throw error;
    },
  );
  return {
    participantUrl: `https://${addressOf(participants)}`,
    operatorUrl: `http://${addressOf(operator)}`,
    job,
    events,
    metrics,
    done,
    close: async () => {
      abort.abort();
      await gateway.closeAll();
      await Promise.allSettled([participants.close(), operator.close()]);
      await done.catch(() => undefined);
      await refusals.flush();
      await trail.close();
    },
  };
}

/**
 * The largest update a participant may send: one model as float32, or under CKKS its ciphertexts —
 * one per chunk of the slots left after the round's metadata (at most 2,048 contributor slots), each
 * two polynomials of N coefficients over the three primes of the level they travel at, 8 bytes each.
 */
function largestUpdateBytes(prepared: PreparedCoordinatedJob, numParams: number): number {
  const { he, heParams } = prepared.config.privacy;
  if (!he) return numParams * 4;
  const n = heParams === 'n16384' ? 16_384 : 8192;
  const payloadSlots = n / 2 - 2048 - 1 - 8 * 16;
  return Math.ceil(numParams / payloadSlots) * (2 * n * 3 * 8 + 4096) + 64 * 1024;
}

async function parameterCount(prepared: PreparedCoordinatedJob): Promise<number> {
  await initBackend();
  const model = await LocalModel.create(prepared.spec, { seed: 0 });
  const count = model.numParams;
  model.dispose();
  return count;
}

function addressOf(app: FastifyInstance): string {
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${host}:${address.port}`;
}
