import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { ChainClient } from '../chain/index.js';
import { InvalidInputError } from '../core/index.js';
import { createIdentity, readIdentityFile, readMemberSet, writeIdentityFile, writeMemberSet } from '../privacy/zk/index.js';
import { txLine } from './chain-command.js';

/**
 * `member new`, `member add` and `member register`: a member's anonymous identity, the member-set file a
 * privacy.anonymous job checks proofs against, and the on-chain MemberRegistry that stands in for the file.
 */
export function registerMemberCommands(program: Command, open: () => Promise<ChainClient>): void {
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
  member
    .command('register')
    .description("put your identity's commitment in MemberRegistry on chain (your account needs the minimum stake; one commitment per staked account); `serve --members registry` accepts proofs against it")
    .requiredOption('--identity <file>', 'your identity file from `member new` (only its commitment goes on chain)')
    .action(async (opts: { identity: string }) => {
      const identity = readIdentityFile(resolve(opts.identity));
      const client = await open();
      const { MemberRegistryClient } = await import('../chain/index.js');
      const registry = new MemberRegistryClient(client.conn, client.deployment, client.signer);
      const tx = await registry.register(identity.commitment);
      process.stdout.write(txLine(`${client.account} registered its commitment as member ${tx.index}; root ${await registry.root()}`, tx));
    });
}
