import type { KeyObject } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { AuditTrail, InvalidInputError, growHeapForBufferTraffic, type Storage } from '../core/index.js';
import { defaultAuditFile } from './audit-location.js';
import { EXIT_ABORTED, printJson, writeJsonFile } from './output.js';
import type { MarketJob } from './market-job.js';
import type { RoundReport } from '../fl/index.js';

function port(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`${name} must be a port number from 0 to 65535, got '${value}'`);
    return n;
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'silent'] as const;
const ROLES = ['coordinator', 'edge', 'root'] as const;

function count(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got '${value}'`);
    return n;
  };
}

/** The dashboard shows a node as stale after 60 s without a heartbeat, so an interval stays below half of that. */
const MAX_HEARTBEAT_SECONDS = 30;

function heartbeatSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_HEARTBEAT_SECONDS) {
    throw new InvalidArgumentError(`--heartbeat-seconds must be a whole number of seconds from 1 to ${MAX_HEARTBEAT_SECONDS}, got '${value}'`);
  }
  return n;
}

/** Adds `serve` (the coordinator) and `client` (a participant's agent). */
export function registerNetworkCommands(program: Command, openStore: () => Promise<Storage>, dbLocation: () => string): void {
  program
    .command('serve')
    .description('coordinate a federated job over the network: participants connect with mutual TLS; dashboard, REST and /metrics on the operator port')
    .requiredOption('--config <file>', 'job config (.yaml, .yml or .json); its test data stays on the coordinator for evaluation')
    .requiredOption('--kit-dir <dir>', 'the directory `cipher-nexus provision` wrote')
    .option('--host <host>', "participant listener address (default: the kit's host)")
    .option('--port <n>', "participant listener port (default: the kit's port)", port('--port'))
    .option('--operator-host <host>', 'dashboard/REST/metrics address', '127.0.0.1')
    .option('--operator-port <n>', 'dashboard/REST/metrics port (0 picks a free one)', port('--operator-port'), 8080)
    .option('--operator-hostname <names>', 'comma-separated further host names the dashboard is reached by (a reverse proxy\'s); any other Host header is refused')
    .option('--operator-no-auth', 'serve the dashboard and API without operator login: accepted only with a loopback --operator-host')
    .option('--audit <file>', 'hash-chained audit trail (default: audit.jsonl beside the database)')
    .option('--report <file>', 'where to write the JSON report')
    .option('--log-level <level>', `structured log level (${LOG_LEVELS.join(', ')})`, 'info')
    .option('--json', 'print the final report as JSON')
    .option('--firewall <file>', 'JSON {"allow": [...], "deny": [...]} of addresses and CIDR networks that may or may not connect to the participants\' listener; re-read on SIGHUP, or set with PUT /api/firewall')
    .option('--members <file|registry>', 'a privacy.anonymous job: the member-set file ({"commitments": [...]}) whose tree roots members prove against, re-read when it changes; or `registry`: MemberRegistry on the chain of --rpc, where only staked accounts add members')
    .option('--grant <file>', 'run a job bought on the data market: the access grant `market order` wrote; its configuration must be --config, its privacy budget is the asset\'s')
    .option('--role <role>', `${ROLES.join(', ')}: an edge is a participant of the root's job (--key, --upstream) and the coordinator of its own participants (--kit-dir); it answers each root round with their weighted mean. A root's participants are edges: a privacy.secagg, privacy.he or privacy.tee job runs SecAgg+, CKKS or the enclave inside each edge group and plain rounds of group means at the root`, 'coordinator')
    .option('--upstream <url>', "with --role edge: the root coordinator's address (default: the --key kit's); several, comma-separated, are tried in turn (a root and its standby)")
    .option('--key <file>', "with --role edge: the edge's participant kit for the root's job (from `kit assemble`)")
    .option('--min-participants <n>', "with --role edge: participants the edge waits for before each round, all of them folded (default: every participant of --kit-dir)", count('--min-participants'))
    .option('--heartbeat-seconds <n>', `how often participants send a heartbeat with their load, 1 to ${MAX_HEARTBEAT_SECONDS}; each is a signed message the coordinator checks, so a coordinator of many thousands may want it longer`, heartbeatSeconds, 5)
    .option('--standby', 'with a postgres:// --db: wait while another coordinator serves this job (or this edge\'s group) from the same database, and take over when it stops; give its participants both addresses (client --server A,B)')
    .action(
      async (opts: { config: string; kitDir: string; firewall?: string; grant?: string; members?: string; host?: string; port?: number; operatorHost: string; operatorPort: number; operatorHostname?: string; operatorNoAuth?: boolean; audit?: string; report?: string; logLevel: string; json?: boolean; role: string; upstream?: string; key?: string; minParticipants?: number; standby?: boolean; heartbeatSeconds: number }) => {
        if (!(LOG_LEVELS as readonly string[]).includes(opts.logLevel)) {
          throw new InvalidInputError('CLI_OPTION_INVALID', `--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${opts.logLevel}'`);
        }
        if (!(ROLES as readonly string[]).includes(opts.role)) throw new InvalidInputError('CLI_OPTION_INVALID', `--role must be one of ${ROLES.join(', ')}, got '${opts.role}'`);
        const edge = opts.role === 'edge';
        const edgeOnly = ([['--upstream', opts.upstream], ['--key', opts.key], ['--min-participants', opts.minParticipants]] as const).find(([, value]) => value !== undefined);
        if (!edge && edgeOnly) throw new InvalidInputError('CLI_OPTION_INVALID', `${edgeOnly[0]} is for --role edge; add --role edge or drop it`);
        if (edge && opts.key === undefined) throw new InvalidInputError('CLI_OPTION_INVALID', "--role edge needs --key: the edge's participant kit for the root's job (`cipher-nexus kit assemble` writes it)");
        if (edge && (opts.grant !== undefined || opts.members !== undefined)) throw new InvalidInputError('CLI_OPTION_INVALID', `${opts.grant !== undefined ? '--grant' : '--members'} is not built for --role edge yet; serve that job with one flat coordinator`);
        const { isLoopbackHost } = await import('../server/index.js');
        if (opts.operatorNoAuth && !isLoopbackHost(opts.operatorHost)) {
          throw new InvalidInputError('OPERATOR_NO_AUTH_NOT_LOOPBACK', `--operator-no-auth is accepted only on a loopback address (127.0.0.1, ::1, localhost), not on '${opts.operatorHost}'; drop it and log in with an operator token`);
        }
        if (!existsSync(join(opts.kitDir, 'server', 'kit.json'))) {
          throw new InvalidInputError('KIT_NOT_FOUND', `'${opts.kitDir}' has no server/kit.json; run \`cipher-nexus provision --out ${opts.kitDir} --requests ...\` first`);
        }
        growHeapForBufferTraffic();
        const { loadJobConfig, prepareCoordinatedJob, formatEvaluation, formatVerdict, JobValidationError } = await import('../fl/index.js');
        let prepared = await prepareCoordinatedJob(loadJobConfig(opts.config));
        let upstreamKit: import('../identity/index.js').ParticipantKit | undefined;
        let minParticipants = opts.minParticipants ?? 0;
        if (opts.role === 'root') {
          const { rootJobConfig } = await import('../fl/index.js');
          const { privacy } = prepared.config;
          const inGroups = privacy.secagg ? 'SecAgg+' : privacy.he ? 'CKKS' : privacy.tee ? `aggregation in a ${privacy.tee} enclave` : undefined;
          if (inGroups) process.stderr.write(`root:         ${inGroups} runs inside each edge group; this root takes the groups' means, never a participant's update\n`);
          if (prepared.config.privacy.dp) process.stderr.write(`root:         ${prepared.config.privacy.dp.mode}-level DP runs inside each edge group and each edge's ledger accounts its participants' epsilon (its report and budget command)\n`);
          prepared = { ...prepared, config: rootJobConfig(prepared.config) };
        }
        if (edge) {
          const { checkEdgeJob } = await import('../fl/index.js');
          checkEdgeJob(prepared.config);
          const { loadParticipantKit, loadServerKit, serverKitPath } = await import('../identity/index.js');
          upstreamKit = loadParticipantKit(opts.key as string);
          minParticipants ||= loadServerKit(serverKitPath(opts.kitDir)).participants.size;
        }
        const { Firewall, OperatorAbortError, startCoordinator } = await import('../server/index.js');
        // Read before anything is opened: a bad rules file stops serve with nothing changed.
        const firewall = opts.firewall ? Firewall.fromFile(opts.firewall) : undefined;
        if (opts.members !== undefined && !prepared.config.privacy.anonymous) {
          throw new InvalidInputError('CLI_OPTION_INVALID', '--members is for a privacy.anonymous job; set privacy.anonymous: true in the config or drop --members');
        }
        const { memberRootsFrom } = await import('./member-source.js');
        const memberRoots = opts.members === undefined ? undefined : await memberRootsFrom(opts.members, program.opts<{ rpc?: string; deployment: string }>());
        const { parseDatabaseLocation, takeCoordinatorLease } = await import('../core/index.js');
        // One coordinator per job (per edge group) and database: with PostgreSQL a second waits as a standby or is refused.
        const leaseName = upstreamKit ? `edge ${upstreamKit.participantId} of job ${prepared.config.name}` : `job ${prepared.config.name}`;
        const lease = await takeCoordinatorLease(parseDatabaseLocation(dbLocation()), leaseName, {
          standby: opts.standby ?? false,
          onWaiting: () => process.stderr.write(`standby:      another coordinator serves ${leaseName}; waiting to take over when it stops\n`),
        });
        if (lease && opts.standby) process.stderr.write(`standby:      took over ${leaseName}\n`);
        const storage = await openStore().catch(async (error: unknown) => {
          await lease?.release();
          throw error;
        });
        let market: MarketJob['market'] | undefined;
        if (opts.grant) {
          // Loaded only for a bought job: the market brings viem and the contract artefacts.
          const { marketJob } = await import('./market-job.js');
          try {
            ({ market, prepared } = await marketJob(opts.grant, opts.config, prepared, storage));
          } catch (error) {
            await storage.close();
            await lease?.release();
            throw error;
          }
        }
        const location = dbLocation();
        const auditFile = opts.audit ? resolve(opts.audit) : defaultAuditFile(location);
        try {
          const { startEdge } = await import('../server/index.js');
          let upstreamDone: Promise<import('../client/index.js').UpstreamEnd> | undefined;
          const start = upstreamKit
            ? async (o: Parameters<typeof startCoordinator>[0]) => {
                const running = await startEdge({ ...o, upstreamKit, minParticipants, ...(opts.upstream ? { upstreamUrl: opts.upstream } : {}) });
                upstreamDone = running.upstreamDone;
                const name = upstreamKit?.participantId ?? 'edge';
                const say = (line: string): void => void (opts.json ? undefined : process.stderr.write(`${name}: ${line}\n`));
                running.uplink.on('connected', () => say(`connected upstream to ${opts.upstream ?? upstreamKit?.coordinatorUrl}`));
                running.uplink.on('reconnecting', (r: { delayMs: number; connectedBefore: boolean }) => say(`${r.connectedBefore ? 'upstream connection lost' : 'the upstream coordinator is not reachable yet'}; retrying in ${r.delayMs} ms`));
                running.uplink.on('warning', (text: string) => say(text));
                running.uplink.on('refused', (e: { code: string; message: string }) => say(`refused upstream [${e.code}]: ${e.message}`));
                return running;
              }
            : startCoordinator;
          const coordinator = await start({
            prepared,
            storage,
            ...(memberRoots ? { memberRoots } : {}),
            kitDir: opts.kitDir,
            host: opts.host,
            port: opts.port,
            operatorHost: opts.operatorHost,
            operatorPort: opts.operatorPort,
            operatorHostnames: opts.operatorHostname?.split(',').map((name) => name.trim()).filter(Boolean) ?? [],
            operatorNoAuth: opts.operatorNoAuth ?? false,
            auditFile,
            logLevel: opts.logLevel as (typeof LOG_LEVELS)[number],
            heartbeatSeconds: opts.heartbeatSeconds,
            ...(market ? { market } : {}),
            ...(firewall ? { firewall } : {}),
          });
          const login = opts.operatorNoAuth ? ' (no login: --operator-no-auth)' : ' (log in with an operator token)';
          process.stderr.write(`participants: ${coordinator.participantUrl}\ndashboard:    ${coordinator.operatorUrl}/${login}\nmetrics:      ${coordinator.operatorUrl}/metrics (scrape token)\naudit trail:  ${auditFile}\n`);
          for (const warning of coordinator.warnings) process.stderr.write(`warning: ${warning}\n`);
          const enclave = coordinator.job.enclave;
          if (enclave) {
            process.stderr.write(`enclave:      ${enclave.kind.toUpperCase()} (not hardware-protected), heap ${enclave.resources.memoryMb} MiB, measurement ${enclave.measurement}\n              participants admit it with: cipher-nexus client ... --tee-allow ${enclave.measurement}\n`);
          }
          if (upstreamKit) process.stderr.write(`edge:         ${upstreamKit.participantId} of ${opts.upstream ?? upstreamKit.coordinatorUrl}; says hello upstream once ${minParticipants} participant(s) joined\n`);
          process.stderr.write(`${coordinator.job.resumed ? 'resuming' : 'started'} job ${coordinator.job.jobId}; waiting for ${upstreamKit ? minParticipants : prepared.config.selection.minClients} participant(s)\n`);
          // A lease whose connection broke may be a standby's already: two coordinators must not serve one job.
          void lease?.lost.then((error) => {
            process.stderr.write(`error [COORDINATOR_LEASE_LOST]: ${error.message}; stopping\n`);
            process.exitCode = 1;
            void coordinator.close();
          });
          const stop = (): void => void coordinator.close();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          // SIGHUP re-reads the firewall's rules; a bad file is reported and the rules in force stay.
          const reloadFirewall = (): void => {
            try {
              const rules = coordinator.reloadFirewall();
              process.stderr.write(`firewall reloaded: ${rules.allow.length} allow, ${rules.deny.length} deny rule(s)\n`);
            } catch (error) {
              process.stderr.write(`firewall not reloaded: ${(error as Error).message}\n`);
            }
          };
          process.on('SIGHUP', reloadFirewall);
          void coordinator.done.finally(() => process.off('SIGHUP', reloadFirewall)).catch(() => undefined);
          coordinator.job.on('round', (round: RoundReport) => {
            const drop = round.accuracyDrop ? `  ACCURACY DROP from ${round.accuracyDrop.previous.toFixed(4)} (more than ${round.accuracyDrop.margin})` : '';
            if (!opts.json) process.stderr.write(`round ${round.round}${upstreamKit ? ' (edge)' : `/${prepared.config.rounds}`}  accuracy ${round.accuracy.toFixed(4)}  clients ${round.participants.length}  ${round.seconds.toFixed(2)} s${drop}\n`);
          });
          // A participant caught claiming more weight than it declared is named at once, not only in the report.
          coordinator.events.on('security', (event) => {
            if (!opts.json && event.kind === 'weight_over_bound') process.stderr.write(`REFUSED ${event.participant ?? 'a participant'}: ${event.detail}\n`);
          });
          coordinator.job.on('control', (state: string) => process.stderr.write(`job ${coordinator.job.jobId} ${state} (operator)\n`));
          const report = await coordinator.done.finally(() => coordinator.close()).catch((error: unknown) => {
            if (!(error instanceof OperatorAbortError)) throw error;
            process.stderr.write(`job ${coordinator.job.jobId} aborted by operator '${error.operator}'; it is stored as failed\n`);
            process.exitCode = EXIT_ABORTED;
            return undefined;
          });
          if (!report) return;
          if (upstreamDone) {
            // The edge's own figures are its group's; the job's outcome is the root's.
            const upstream = await upstreamDone;
            process.stderr.write(`upstream job ${upstream.jobId} ${upstream.status}${upstream.accuracy !== undefined ? ` (accuracy ${upstream.accuracy.toFixed(4)})` : ''}\n`);
            if (upstream.status === 'failed') process.exitCode = 1;
          }
          const reportPath = resolve(opts.report ?? `.cipher-nexus/reports/${report.jobId}.json`);
          writeJsonFile(reportPath, report);
          if (opts.json) printJson(report);
          else {
            const lines = [
              `job ${report.jobId} ${report.status}: accuracy ${report.final?.accuracy?.toFixed(4) ?? '-'}, model v${report.model.version} ${report.model.sha256}`,
              ...formatEvaluation(report.evaluation),
              ...formatVerdict(report),
              `report written to ${reportPath}`,
            ];
            process.stdout.write(`${lines.join('\n')}\n`);
          }
          if (market) {
            // A job that ran to its end used a unit of its grant, whether or not its model passed validation.
            const { recordJobOnGrant } = await import('./market-job.js');
            process.stderr.write(`${await recordJobOnGrant(storage, market.grant)}\n`);
          }
          if (report.status === 'failed') throw new JobValidationError(report.jobId, report.validation.failures);
          if (market) {
            // A bought job that completed posts its evidence to the escrow; without a chain the operator posts it later.
            if (program.opts<{ rpc?: string }>().rpc) {
              const { completeOnChain } = await import('./market-job.js');
              process.stderr.write(`${await completeOnChain(program, storage, market.grant, report)}\n`);
            } else {
              process.stderr.write('warning: no --rpc: the completion of this bought job was not posted to the escrow; post it with the market operator key\n');
            }
          }
        } finally {
          await storage.close();
          await lease?.release();
        }
      },
    );

  program
    .command('client')
    .description("take part in a job: train on local data only and send signed updates over mutual TLS")
    .requiredOption('--key <file>', 'your startup kit (written by `cipher-nexus kit assemble` from your key file and the certificate bundle the operator sent)')
    .requiredOption('--data <file>', 'your local training CSV (it never leaves this machine)')
    .option('--server <url>', "coordinator address (default: the kit's); several, comma-separated, are tried in turn after a lost connection (an active coordinator and its standby)")
    .option('--json', 'print the result as JSON')
    .option('--asset <id>', 'serve this data market asset: take part only in jobs whose access grant for it is valid and unspent (needs --market-operator, --rpc and --deployment)')
    .option('--market-operator <address>', 'with --asset: the market operator whose signature grants carry')
    .option('--grant-usage <file>', 'with --asset: where this node counts the jobs each grant admitted', '.cipher-nexus/grant-usage.json')
    .option('--audit <file>', "with --asset: this node's hash-chained record of every grant check and every task served", '.cipher-nexus/owner-audit.jsonl')
    .option('--tee-allow <measurement>', 'in a privacy.tee job, send updates only to an enclave of this measurement (SHA-384 hex; repeat for several); without it every enclave is refused', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--tee-platform-key <file>', "the simulated platform's public key whose evidence to trust", '.cipher-nexus/tee/platform-key.pub.pem')
    .option('--identity <file>', 'a privacy.anonymous job: your member identity file (its secret never leaves this machine); with --members')
    .option('--members <file|registry>', 'a privacy.anonymous job: the member-set file your identity is proved against, or `registry`: MemberRegistry on the chain of --rpc')
    .option('--wire-log <file>', 'write every message this node sends to the coordinator, whole and signed, before TLS, to this file (records of a 4-byte big-endian length and the bytes), to inspect what left the node')
    .option('--protection <list>', 'send your update only under these protections, comma-separated from none, secagg, ckks, tee (default: whatever the coordinator asks); a round asking for another is refused before training')
    .action(async (opts: { key: string; data: string; server?: string; json?: boolean; asset?: string; marketOperator?: string; grantUsage: string; audit: string; teeAllow: string[]; teePlatformKey: string; wireLog?: string; identity?: string; members?: string; protection?: string }) => {
      const { parseProtectionFloor } = await import('../fl/index.js');
      const protections = opts.protection === undefined ? undefined : parseProtectionFloor(opts.protection);
      if ((opts.identity === undefined) !== (opts.members === undefined)) {
        throw new InvalidInputError('CLI_OPTION_INVALID', '--identity and --members go together: an anonymous member proves its identity file against the member set (a file, or `registry`)');
      }
      if (!existsSync(opts.data)) throw new InvalidInputError('DATA_NOT_FOUND', `--data '${opts.data}' does not exist; give the CSV of your local training data`);
      const badMeasurement = opts.teeAllow.find((m) => !/^(0x)?[0-9a-fA-F]{96}$/.test(m));
      if (badMeasurement !== undefined) throw new InvalidInputError('CLI_OPTION_INVALID', `--tee-allow takes an enclave measurement, 96 hex digits (SHA-384), got '${badMeasurement.slice(0, 120)}'`);
      const { loadParticipantKit } = await import('../identity/index.js');
      const kit = loadParticipantKit(opts.key);
      const { ClientAgent, WireLog } = await import('../client/index.js');
      // Opened first, so that an unwritable place is refused before anything else is written.
      const wireLog = opts.wireLog === undefined ? undefined : WireLog.open(resolve(opts.wireLog));
      let admitJob: Awaited<ReturnType<typeof import('./asset-gate.js').assetGate>> | undefined;
      let ownerAudit: AuditTrail | undefined;
      if (opts.asset !== undefined) {
        try {
          const chainOptions = program.opts<{ rpc?: string; deployment: string }>();
          if (!opts.marketOperator || !chainOptions.rpc) {
            throw new InvalidInputError('CLI_OPTION_INVALID', '--asset needs --market-operator ADDRESS and --rpc URL (with --deployment FILE): grants are checked against the operator and the escrow on chain');
          }
          const { assetGate } = await import('./asset-gate.js');
          ownerAudit = await AuditTrail.open(resolve(opts.audit));
          admitJob = await assetGate({ assetId: opts.asset, issuer: opts.marketOperator, usageFile: opts.grantUsage, rpc: chainOptions.rpc, deployment: chainOptions.deployment, audit: ownerAudit, actor: kit.participantId });
        } catch (error) {
          wireLog?.close();
          if (wireLog) rmSync(wireLog.path, { force: true });
          throw error;
        }
      }
      let platformKey: KeyObject | undefined;
      const { readSimulatedPlatformPublicKey } = await import('../tee/index.js');
      // Read when the first enclave is checked: a coordinator on this machine makes the key when it starts its enclave.
      const enclavePolicy = { allowedMeasurements: opts.teeAllow, platformKey: () => (platformKey ??= readSimulatedPlatformPublicKey(resolve(opts.teePlatformKey))) };
      let anonymous: { member: import('../fl/index.js').AnonymousMember; close: () => Promise<void> } | undefined;
      if (opts.identity !== undefined && opts.members !== undefined) {
        const zk = await import('../privacy/zk/index.js');
        const { AnonymousMember } = await import('../fl/index.js');
        const { memberPathFrom } = await import('./member-source.js');
        const identity = zk.readIdentityFile(resolve(opts.identity));
        const path = await memberPathFrom(opts.members, program.opts<{ rpc?: string; deployment: string }>(), identity);
        const membership = zk.Membership.open(1);
        anonymous = { member: new AnonymousMember(membership, identity, path), close: () => membership.close() };
      }
      const agent = new ClientAgent({ kit, dataFile: opts.data, serverUrl: opts.server, enclavePolicy, ...(protections ? { protections } : {}), ...(anonymous ? { anonymous: anonymous.member } : {}), ...(admitJob ? { admitJob } : {}), ...(wireLog ? { onFrame: wireLog.record } : {}) });
      const say = (line: string): void => void (opts.json ? undefined : process.stderr.write(`${line}\n`));
      agent.on('connected', () => say(`${kit.participantId}: connected to ${opts.server ?? kit.coordinatorUrl}`));
      // The local loss is shown only where it may leave the node (plain rounds without DP); the update itself is what was trained.
      agent.on('trained', (t: { round: number; loss?: number; seconds: number; encoding: string }) =>
        say(`${kit.participantId}: round ${t.round} trained (${t.loss !== undefined ? `loss ${t.loss.toFixed(4)}, ` : ''}${t.seconds.toFixed(2)} s)${t.encoding === 'tee' ? '; encrypted to the SIMULATED enclave (not hardware-protected) after checking its evidence' : ''}`),
      );
      agent.on('reconnecting', (r: { delayMs: number; attempt: number; connectedBefore: boolean }) =>
        say(`${kit.participantId}: ${r.connectedBefore ? 'connection lost' : 'the coordinator is not reachable yet'}; retrying in ${r.delayMs} ms (attempt ${r.attempt})`),
      );
      agent.on('warning', (text: string) => say(`${kit.participantId}: ${text}`));
      agent.on('refused', (e: { code: string; message: string }) => say(`${kit.participantId}: refused [${e.code}]: ${e.message}`));
      agent.on('refused-enclave', (e: { round: number; code: string; message: string }) => say(`${kit.participantId}: round ${e.round}: sent nothing [${e.code}]: ${e.message}`));
      agent.on('refused-job', (e: { jobId: string; code: string; message: string }) => say(`${kit.participantId}: will not serve job ${e.jobId} [${e.code}]: ${e.message}`));
      const stop = (): void => agent.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // Every task served on the asset goes to the owner's trail too: what left this node, and when.
      if (ownerAudit) agent.on('trained', (t: { round: number }) => void ownerAudit?.append('task.served', kit.participantId, { assetId: opts.asset, round: t.round }));
      const result = await agent.run().finally(async () => {
        wireLog?.close();
        await anonymous?.close();
        return ownerAudit?.close();
      });
      if (result.status === 'failed') process.exitCode = 1;
      if (opts.json) printJson(result);
      else process.stdout.write(`${kit.participantId}: job ${result.jobId} ${result.status}${result.accuracy !== undefined ? ` (accuracy ${result.accuracy.toFixed(4)})` : ''}; trained ${result.rounds} round(s), ${result.reconnects} reconnect(s), ${result.attemptsBeforeConnected} attempt(s) before the first connection\n`);
    });
}
