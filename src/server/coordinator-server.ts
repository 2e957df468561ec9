import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { AuditTrail, InvalidInputError, StateError, type Storage } from '../core/index.js';
import { AnonymousAdmission, openCoordinatedJob, type JobDriver, type JobOutcome, type MemberRoots, type PreparedCoordinatedJob, type RoundBase, type RoundReport } from '../fl/index.js';
import { LocalModel, initBackend } from '../ml/index.js';
import { loadServerKit, operatorCredentialsPath, revokeParticipant, serverKitPath, tlsOptionsForServer } from '../identity/index.js';
import { ServerEvents } from './events.js';
import { CoordinatorMetrics } from './metrics.js';
import { OperatorAccess } from './operator-access.js';
import { registerOperatorApi, type OperatorControl } from './operator-api.js';
import type { OperatorRefusal } from './operator-guard.js';
import { OperatorOrigins, isLoopbackHost } from './operator-origin.js';
import { EnclaveWatch } from './enclave-watch.js';
import { Firewall, type FirewallRules } from './firewall.js';
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
  /** Further names the operator listener answers to (a reverse proxy's); requests for any other Host are refused. */
  operatorHostnames?: readonly string[];
  /** Serve the operator listener without authentication: refused unless it listens on a loopback address. */
  operatorNoAuth?: boolean;
  /** How long a dashboard login lasts. Default 12 hours. */
  operatorSessionSeconds?: number;
  auditFile: string;
  /** Seconds between participants' heartbeats, given to each in its welcome (`serve --heartbeat-seconds`); 5 by default. */
  heartbeatSeconds?: number;
  /** Seconds without a byte from a participant, pings unanswered, after which its connection is closed as gone; by default six heartbeats and at least 120. */
  silenceSeconds?: number;
  limits?: Partial<GatewayLimits>;
  /** How long refusals from one source are aggregated into one security event and one audit entry, ms; one minute by default. */
  refusalWindowMs?: number;
  /** Structured log level of both listeners (pino), written to stderr. */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
  /** A job bought on the data market: the buyer's access grant and the job configuration file's content it names, sent in every welcome. */
  market?: { grant: unknown; config: Record<string, unknown> };
  /** Who may connect to the participants' listener; open to all (mutual TLS still applies) when not given. */
  firewall?: Firewall;
  /** A `privacy.anonymous` job: where the coordinator learns the member roots it accepts proofs against (required then). */
  memberRoots?: MemberRoots;
  /** How often a `privacy.tee` job's enclave is asked for its health and memory, ms; 5 s by default. */
  enclaveCheckMs?: number;
  /** An edge aggregator: where each round's starting weights come from (its upstream coordinator), see `startEdge`. */
  roundBase?: RoundBase;
}

/** Why a coordinator would not start its operator listener as asked. */
export class OperatorListenerError extends InvalidInputError {}

/** A coordinator that is serving: its addresses, its job, and how to stop it. */
export interface RunningCoordinator {
  participantUrl: string;
  operatorUrl: string;
  job: JobDriver;
  events: ServerEvents;
  metrics: CoordinatorMetrics;
  /** Re-reads the firewall's rules file and closes connections it now refuses (what SIGHUP does). */
  reloadFirewall(): FirewallRules;
  /** Warnings about the operator listener's exposure, also logged at start. */
  warnings: string[];
  /** Settles when the job ends. */
  done: Promise<JobOutcome>;
  close(): Promise<void>;
}

/**
 * Starts the coordinator: the participants' gateway over mutual TLS, the operator's listener with the
 * dashboard and monitoring, and the job (taken over from the store when a previous process left it running).
 */
export async function startCoordinator(options: CoordinatorOptions): Promise<RunningCoordinator> {
  const operatorHost = options.operatorHost ?? '127.0.0.1';
  if (options.operatorNoAuth && !isLoopbackHost(operatorHost)) {
    throw new OperatorListenerError('OPERATOR_NO_AUTH_NOT_LOOPBACK', `--operator-no-auth is accepted only on a loopback address (127.0.0.1, ::1, localhost), not on '${operatorHost}'; drop it and log in with an operator token`, { operatorHost });
  }
  if (options.prepared.config.privacy.anonymous && !options.memberRoots) {
    throw new InvalidInputError('ANONYMOUS_MEMBERS_MISSING', 'privacy.anonymous needs the member set the proofs are checked against: give serve --members FILE, the member-set file of the identity commitments of the admitted members');
  }
  const kit = loadServerKit(serverKitPath(options.kitDir));
  const access = new OperatorAccess(options.operatorNoAuth ? { sessionSeconds: options.operatorSessionSeconds } : { credentialsFile: operatorCredentialsPath(options.kitDir), sessionSeconds: options.operatorSessionSeconds });
  const origins = new OperatorOrigins(operatorHost, options.operatorHostnames ?? []);
  const warnings = operatorListenerWarnings(operatorHost, access.required ? access.operatorNames().length : undefined, options.kitDir);
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
  const gateway = new ParticipantGateway({ kit, kitDir: options.kitDir, prepared: options.prepared, numParams, events, metrics, audit, refusals, heartbeatSeconds: options.heartbeatSeconds ?? 5, ...(options.silenceSeconds !== undefined ? { silenceSeconds: options.silenceSeconds } : {}), limits, ...(options.market ? { market: options.market } : {}) });
  // Logs go to stderr: stdout carries the command's result (the report, as JSON with --json).
  const logger = { level: options.logLevel ?? 'info', stream: process.stderr };

  const firewall = options.firewall ?? new Firewall();
  const admit = (socket: Socket): boolean => {
    const decision = firewall.check(socket.remoteAddress);
    if (!decision.allowed) {
      metrics.firewallDenied.inc({ list: decision.reason.startsWith('deny') ? 'deny' : 'allow' });
      refusals.record({ code: 'FIREWALL_DENIED', kind: 'firewall_denied', source: socket.remoteAddress ?? 'unknown', detail: `connection refused by the job's firewall (${decision.reason})` });
    }
    return decision.allowed;
  };
  // New rules apply to connections already open as well: a peer denied now is cut off now.
  const changeFirewall = (change: () => FirewallRules, actor: string): FirewallRules => {
    const rules = change();
    gateway.enforceFirewall((address) => firewall.check(address));
    void audit.append('firewall.changed', actor, { allow: rules.allow.length, deny: rules.deny.length });
    return rules;
  };

  const participants = fastify({
    logger,
    bodyLimit: limits.maxBodyBytes,
    serverFactory: (handler) => createMutualTlsServer(tlsOptionsForServer(kit), handler, admit),
    // At shutdown every participant connection is closed at once, also idle ones and half-made handshakes.
    forceCloseConnections: true,
  });
  participants.server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
    metrics.authFailures.inc({ code: 'TLS_HANDSHAKE' });
    refusals.record({ code: 'TLS_HANDSHAKE', source: socket.remoteAddress ?? 'unknown', detail: `TLS handshake refused: ${error.message}` });
  });
  await participants.register(websocket, { options: { maxPayload: limits.maxMessageBytes } });
  await gateway.register(participants);

  const job = await openCoordinatedJob(options.prepared, options.storage, gateway, options.roundBase);
  const anonymous = options.memberRoots ? AnonymousAdmission.open(options.memberRoots, job.jobId) : undefined;
  gateway.attach(job, anonymous);
  const enclaveWatch = job.enclave ? new EnclaveWatch(job.enclave, { metrics, events, audit, intervalMs: options.enclaveCheckMs }) : undefined;
  enclaveWatch?.start();
  let ended = false;
  const control: OperatorControl = {
    jobId: job.jobId,
    state: () => (ended ? undefined : job.controlState),
    pause: () => void job.pause(),
    resume: () => void job.resume(),
    abort: (operatorName) => {
      ended = true;
      job.fail(new OperatorAbortError(operatorName));
    },
    hasParticipant: (participantId) => kit.participants.has(participantId),
    revoke: (participantId) => {
      const { entry, alreadyRevoked } = revokeParticipant(options.kitDir, participantId);
      gateway.enforceRevocations();
      return { participantId: entry.participantId, revokedAt: entry.revokedAt, alreadyRevoked };
    },
    firewall: {
      rules: () => firewall.rules,
      replace: (rules, operatorName) => changeFirewall(() => firewall.replace(rules), operatorName),
    },
  };
  const onRefused = (refusal: OperatorRefusal): void => {
    metrics.operatorAuthFailures.inc({ code: refusal.code });
    // A request without credentials is what a logged-out dashboard makes; wrong credentials, a viewer acting or a foreign Host or Origin are worth an operator's attention.
    if (refusal.code === 'OPERATOR_UNAUTHENTICATED') return;
    // Anyone who reaches the listener can repeat a wrong token or a foreign Host as fast as it sends:
    // those are aggregated per address and minute like a refused handshake. A known operator's are audited one by one.
    const known = refusal.operator !== undefined;
    refusals.record({ code: refusal.code, kind: 'operator_refused', source: refusal.source, ...(known ? { participant: refusal.operator } : {}), detail: `${refusal.method} ${refusal.path.slice(0, 200)}` }, { audited: known });
    if (known) void audit.append('security.operator_refused', refusal.operator ?? 'unknown', { code: refusal.code, method: refusal.method, path: refusal.path.slice(0, 200) });
  };

  // Dashboards and scrapers keep connections open; closing the coordinator must not wait for them.
  const operator = fastify({ logger, forceCloseConnections: true });
  let ready = false;
  // Registered first: its guard covers the routes below as well.
  await registerOperatorApi(operator, { storage: options.storage, events, access, origins, audit: (kind, actor, details) => trail.append(kind, actor, details), control, onRefused });
  operator.get('/health', { config: { access: 'probe' } }, async () => ({ status: 'ok' }));
  operator.get('/ready', { config: { access: 'probe' } }, async (_request, reply) => {
    if (!ready) return reply.code(503).send({ status: 'starting' });
    await options.storage.jobs.get(job.jobId);
    return { status: 'ready', job: job.jobId, participants: gateway.connectedCount };
  });
  operator.get('/metrics', { config: { access: 'scrape' } }, async (_request, reply) => reply.type('text/plain; version=0.0.4').send(await metrics.text()));
  job.on('control', (state: string) => {
    events.emit('job', { jobId: job.jobId, name: options.prepared.config.name, status: 'running', rounds: options.prepared.config.rounds, control: state as 'running' | 'pausing' | 'paused' });
  });
  job.on('round', (round: RoundReport) => {
    metrics.rounds.inc();
    metrics.roundSeconds.observe(round.seconds);
    metrics.aggregateSeconds.observe(round.aggregateSeconds);
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
    participants.log.warn({ job: job.jobId, participant: info.participantId, code: info.code }, info.message);
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
  await operator.listen({ host: operatorHost, port: options.operatorPort ?? 8080 });
  for (const warning of warnings) operator.log.warn(warning);
  ready = true;
  await audit.append(job.resumed ? 'job.resumed' : 'job.started', 'coordinator', { job: job.jobId, name: options.prepared.config.name });
  events.emit('job', { jobId: job.jobId, name: options.prepared.config.name, status: 'running', rounds: options.prepared.config.rounds });

  const abort = new AbortController();
  const done = job.run(abort.signal).then(
    async (report: JobOutcome) => {
      ended = true;
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
      ended = true;
      if (!abort.signal.aborted) {
        events.emit('job', { jobId: job.jobId, name: options.prepared.config.name, status: 'failed', rounds: options.prepared.config.rounds });
        await audit.append('job.failed', 'coordinator', { job: job.jobId, error: error.message });
      }
      throw error;
    },
  );
  // Whoever holds `done` sees its rejection; until then (close() awaits it last) it must not count as unhandled.
  done.catch(() => undefined);
  return {
    participantUrl: `https://${addressOf(participants)}`,
    operatorUrl: `http://${addressOf(operator)}`,
    job,
    events,
    metrics,
    warnings,
    done,
    reloadFirewall: () => changeFirewall(() => firewall.reload(), 'coordinator'),
    close: async () => {
      enclaveWatch?.stop();
      abort.abort();
      await gateway.closeAll();
      await Promise.allSettled([participants.close(), operator.close()]);
      await done.catch(() => undefined);
      await refusals.flush();
      await trail.close();
      await anonymous?.close();
    },
  };
}

/** What an operator should hear at start about the operator listener: exposure beyond loopback, and nobody able to log in (`operators` undefined: no login). */
export function operatorListenerWarnings(operatorHost: string, operators: number | undefined, kitDir: string): string[] {
  const warnings: string[] = [];
  if (!isLoopbackHost(operatorHost)) {
    warnings.push(`the operator listener (dashboard, API, /metrics) listens on ${operatorHost}, not on loopback: it is reachable from the network over plain HTTP; put it behind a TLS proxy or an SSH tunnel`);
  }
  if (operators === 0) {
    warnings.push(`no operator has a token, so nobody can use the dashboard or the API; add one with \`cipher-nexus operator add --kit-dir ${kitDir} --name NAME --role admin\``);
  }
  return warnings;
}

/** An operator aborted the job from the API or the dashboard. */
export class OperatorAbortError extends StateError {
  constructor(readonly operator: string) {
    super('JOB_ABORTED_BY_OPERATOR', `operator '${operator}' aborted the job; start serve again with the same config for a new job`);
  }
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
