import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { InvalidInputError } from '../core/index.js';
import { createIdentity, readMemberSet, writeIdentityFile, writeMemberSet } from '../privacy/zk/index.js';

/** `member new` and `member add`: a member's anonymous identity, and the member-set file a privacy.anonymous job checks proofs against. */
export function registerMemberCommands(program: Command): void {
  const member = program.command('member').description('anonymous members of privacy.anonymous jobs: identities and the member set');
  member
    .command('new')
    .description('create your member identity file (its secret never leaves this machine) and print its public commitment')
    .requiredOption('--out <file>', 'where to write the identity file (readable by you only)')
    .action((opts: { out: string }) => {
      const out = resolve(opts.out);
      if (existsSync(out)) throw new InvalidInputError('CLI_OPTION_INVALID', `${out} exists; an identity is not overwritten: choose another --out`);
      const identity = createIdentity();
      writeIdentityFile(out, identity);
      process.stdout.write(`commitment ${identity.commitment}\ngive the commitment (not the file) to the job's operator, or register it in MemberRegistry with your stake\n`);
    });
  member
    .command('add')
    .description("add an identity commitment to a member-set file (created if absent); `serve --members` and `client --members` read it")
    .requiredOption('--members <file>', 'the member-set file')
    .requiredOption('--commitment <n>', 'the commitment `member new` printed (a decimal number)')
    .action((opts: { members: string; commitment: string }) => {
      if (!/^[0-9]{1,78}$/.test(opts.commitment)) throw new InvalidInputError('CLI_OPTION_INVALID', `--commitment takes the decimal number \`member new\` printed, got '${opts.commitment.slice(0, 100)}'`);
      const file = resolve(opts.members);
      const tree = existsSync(file) ? readMemberSet(file) : undefined;
      const commitments = tree ? Array.from({ length: tree.size }, (_, i) => tree.leaf(i)) : [];
      const commitment = BigInt(opts.commitment);
      if (commitments.includes(commitment)) throw new InvalidInputError('CLI_OPTION_INVALID', `${file} already lists this commitment`);
      writeMemberSet(file, [...commitments, commitment]);
      const updated = readMemberSet(file);
      process.stdout.write(`${file}: ${updated.size} member(s), root ${updated.root}\n`);
    });
}
