import { Command, InvalidArgumentError } from 'commander';
import { provision, revokeParticipant } from '../identity/index.js';

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
  participants: string;
  host: string;
  port: number;
  validDays: number;
  force?: boolean;
}

/** Adds `provision` (a job's CA, server kit and participant kits) and `revoke` (a participant, through the revocation list) to the program. */
export function registerIdentityCommands(program: Command): void {
  program
    .command('provision')
    .description("create a job's certificate authority, the coordinator's server kit and one startup kit per participant (mutual TLS and message signing)")
    .requiredOption('--out <dir>', 'directory to create; it must be new or empty unless --force replaces an earlier provision')
    .requiredOption('--participants <ids>', 'comma-separated participant ids: lowercase letters, digits and hyphens')
    .option('--host <host>', 'host name or IP address participants dial', '127.0.0.1')
    .option('--port <n>', "the coordinator's participant port", integerFlag('--port', 1, 65535), 8443)
    .option('--valid-days <n>', 'lifetime of the CA and of every certificate', integerFlag('--valid-days', 1, 3650), 365)
    .option('--force', 'replace an earlier provision in --out; every participant then needs its new kit')
    .action(async (opts: ProvisionOptions) => {
      const result = await provision({
        outDir: opts.out,
        participants: opts.participants.split(',').map((id) => id.trim()),
        serverHost: opts.host,
        serverPort: opts.port,
        validDays: opts.validDays,
        force: opts.force ?? false,
      });
      const width = Math.max(11, ...[...result.participantKitFiles.keys()].map((id) => id.length));
      const lines = [
        `provisioned ${result.participantKitFiles.size} participant(s) for ${result.coordinatorUrl} in ${result.outDir}`,
        `CA sha256 ${result.caFingerprint}`,
        `${'coordinator'.padEnd(width)}  ${result.serverKitFile}`,
        ...[...result.participantKitFiles].map(([id, file]) => `${id.padEnd(width)}  ${file}`),
        'give each participant only its own kit.json, over a channel you trust; keep server/ on the coordinator',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
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
