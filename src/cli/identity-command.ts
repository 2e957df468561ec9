import { Command, InvalidArgumentError } from 'commander';
import {
  OPERATOR_ROLES,
  addOperator,
  assembleParticipantKit,
  generateParticipantKeys,
  parseOperatorGrants,
  provision,
  removeOperator,
  revokeParticipant,
  type OperatorRole,
} from '../identity/index.js';
import { InvalidInputError } from '../core/index.js';

/** A parser for an integer flag in [min, max]. */
function integerFlag(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}, got '${value}'`);
    return n;
  };
}

interface ProvisionOptions {
  out: string;
  requests: string;
  host: string;
  port: number;
  validDays: number;
  force?: boolean;
  operators?: string;
}

/** The lines that show operator tokens, once: nothing keeps them but the operator who copies them now. */
function tokenLines(tokens: readonly { name: string; role: OperatorRole; token: string }[], scrapeToken: string | undefined, file: string): string[] {
  const width = Math.max(12, ...tokens.map((t) => `${t.name} (${t.role})`.length));
  return [
    ...tokens.map((t) => `operator ${`${t.name} (${t.role})`.padEnd(width)}  token ${t.token}`),
    ...(scrapeToken ? [`metrics ${'scrape'.padEnd(width + 1)}  token ${scrapeToken}`] : []),
    `these tokens are shown once: give each to its holder over a private channel; ${file} keeps only their sha256`,
  ];
}

/**
 * Adds `keygen` (a participant's own keys and certificate request), `provision` (a job's CA, server
 * kit, certificate bundles from the requests and operator tokens), `kit assemble` (a participant's kit
 * from its keys and bundle), `operator add|remove` (operator tokens) and `revoke` (a participant,
 * through the revocation list) to the program.
 */
export function registerIdentityCommands(program: Command): void {
  program
    .command('keygen')
    .description("participant: make your TLS and signing keys on this host, and the certificate request to send to the job's operator")
    .requiredOption('--participant <id>', 'your participant id, as agreed with the operator: lowercase letters, digits and hyphens')
    .requiredOption('--out <dir>', 'directory for <id>.key.json and <id>.req.json; created private (0700) when absent')
    .action(async (opts: { participant: string; out: string }) => {
      const result = await generateParticipantKeys({ participantId: opts.participant, outDir: opts.out });
      const lines = [
        `generated the keys of participant '${result.participantId}'`,
        `send to the operator  ${result.requestFile}`,
        `request sha256        ${result.requestSha256}  (read it to the operator over a second channel, e.g. by telephone)`,
        `never share           ${result.keyFile}  (your private keys, readable by you only)`,
        `when the operator sends your certificate.json: cipher-nexus kit assemble --key ${result.keyFile} --certificate certificate.json`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  program
    .command('provision')
    .description("operator: check the participants' certificate requests, then create a job's certificate authority, the coordinator's server kit and one certificate bundle per participant")
    .requiredOption('--out <dir>', 'directory to create; it must be new or empty unless --force replaces an earlier provision')
    .requiredOption('--requests <files>', 'comma-separated certificate requests (<id>.req.json from each participant\'s `keygen`)')
    .option('--host <host>', 'host name or IP address participants dial', '127.0.0.1')
    .option('--port <n>', "the coordinator's participant port", integerFlag('--port', 1, 65535), 8443)
    .option('--valid-days <n>', 'lifetime of the CA and of every certificate', integerFlag('--valid-days', 1, 3650), 365)
    .option('--force', 'replace an earlier provision in --out; every participant then needs its new certificate bundle')
    .option('--operators <list>', `operators of the dashboard and API, NAME[:ROLE] comma-separated (roles: ${OPERATOR_ROLES.join(', ')}; default viewer), e.g. alice:admin,bob`)
    .action(async (opts: ProvisionOptions) => {
      const operators = opts.operators === undefined ? [] : parseOperatorGrants(opts.operators);
      const result = await provision({
        operators,
        outDir: opts.out,
        requests: opts.requests.split(',').map((file) => file.trim()),
        serverHost: opts.host,
        serverPort: opts.port,
        validDays: opts.validDays,
        force: opts.force ?? false,
      });
      const width = Math.max(11, ...[...result.certificateBundleFiles.keys()].map((id) => id.length));
      const lines = [
        `provisioned ${result.certificateBundleFiles.size} participant(s) for ${result.coordinatorUrl} in ${result.outDir}`,
        `CA sha256 ${result.caFingerprint}`,
        `${'coordinator'.padEnd(width)}  ${result.serverKitFile}`,
        ...[...result.certificateBundleFiles].map(([id, file]) => `${id.padEnd(width)}  ${file}  (request sha256 ${result.requestDigests.get(id) ?? ''})`),
        'send each participant its own certificate.json and read it the CA sha256 over a second channel; keep server/ on the coordinator',
        ...tokenLines([...result.operatorTokens].map(([name, { role, token }]) => ({ name, role, token })), result.scrapeToken, result.operatorsFile),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  program
    .command('kit')
    .description('participant: your startup kit')
    .command('assemble')
    .description('join your key file and the certificate bundle from the operator into the kit `cipher-nexus client --key` reads, after checking the certificate is for your key')
    .requiredOption('--key <file>', 'your <id>.key.json from `cipher-nexus keygen`')
    .requiredOption('--certificate <file>', 'the certificate.json the operator sent you')
    .option('--out <file>', 'where to write the kit (default: <id>.kit.json beside --key)')
    .option('--force', 'replace an existing kit, e.g. after the operator provisioned the job again')
    .action((opts: { key: string; certificate: string; out?: string; force?: boolean }) => {
      const result = assembleParticipantKit({ keyFile: opts.key, bundleFile: opts.certificate, outFile: opts.out, force: opts.force ?? false });
      const lines = [
        `kit of participant '${result.kit.participantId}' for ${result.kit.coordinatorUrl} written to ${result.kitFile} (readable by you only)`,
        `CA sha256 ${result.caFingerprint}  (it must be the one the operator read to you)`,
        `start: cipher-nexus client --key ${result.kitFile} --data <your training CSV>`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  const operator = program.command('operator').description("the coordinator's operators: who may use the dashboard and the API, with which role");
  operator
    .command('add')
    .description('issue an operator a token (shown once); the coordinator accepts it at once')
    .requiredOption('--kit-dir <dir>', 'the directory `provision --out` created (its server/ on the coordinator host)')
    .requiredOption('--name <name>', 'the operator: lowercase letters, digits and hyphens')
    .option('--role <role>', `${OPERATOR_ROLES.join(' or ')}: a viewer reads; an admin also revokes participants and pauses, resumes or aborts the job`, 'viewer')
    .option('--replace', "issue a new token to an existing operator; the old one and the operator's dashboard sessions stop working")
    .action((opts: { kitDir: string; name: string; role: string; replace?: boolean }) => {
      if (!(OPERATOR_ROLES as readonly string[]).includes(opts.role)) {
        throw new InvalidInputError('CLI_OPTION_INVALID', `--role must be one of ${OPERATOR_ROLES.join(', ')}, got '${opts.role}'`);
      }
      const role = opts.role as OperatorRole;
      const result = addOperator(opts.kitDir, { name: opts.name, role }, { replace: opts.replace ?? false });
      const lines = [`${result.replaced ? 'replaced the token of' : 'added'} operator '${opts.name}' (${role}) in ${result.file}`, ...tokenLines([{ name: opts.name, role, token: result.token }], result.scrapeToken, result.file)];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  operator
    .command('remove')
    .description("remove an operator: its token and dashboard sessions stop working at the coordinator's next request")
    .requiredOption('--kit-dir <dir>', 'the directory `provision --out` created')
    .requiredOption('--name <name>', 'the operator to remove')
    .action((opts: { kitDir: string; name: string }) => {
      removeOperator(opts.kitDir, opts.name);
      process.stdout.write(`removed operator '${opts.name}'\n`);
    });

  program
    .command('revoke')
    .description('revoke a participant of a provisioned job: the coordinator refuses its connections and messages once it reads the revocation list again')
    .requiredOption('--kit-dir <dir>', 'the directory `provision --out` created')
    .requiredOption('--participant <id>', 'the participant to revoke')
    .action((opts: { kitDir: string; participant: string }) => {
      const { entry, alreadyRevoked } = revokeParticipant(opts.kitDir, opts.participant);
      process.stdout.write(
        alreadyRevoked
          ? `participant '${entry.participantId}' was already revoked at ${entry.revokedAt}\n`
          : `participant '${entry.participantId}' revoked (certificate sha256 ${entry.certificateFingerprint})\n`,
      );
    });
}
