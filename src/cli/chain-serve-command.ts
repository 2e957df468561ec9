import type { Command } from 'commander';
import { InvalidInputError } from '../core/errors.js';
import type { ChainOptions } from './chain-context.js';

/** Adds `chain serve`: a development chain for other processes, with the suite deployed and its addresses saved. */
export function registerChainServeCommand(program: Command): void {
  program
    .command('chain')
    .description('a development chain for the token economy')
    .command('serve')
    .description('serve the in-process EVM as JSON-RPC with the contracts deployed and development accounts funded, until stopped')
    .option('--port <n>', 'TCP port (0: any free port)', '8545')
    .option('--host <address>', 'interface to listen on', '127.0.0.1')
    .option('--accounts <n>', 'development accounts to fund with ether and NXS', '20')
    .action(async (opts: { port: string; host: string; accounts: string }) => {
      if (!/^\d{1,5}$/.test(opts.port) || Number(opts.port) > 65_535) throw new InvalidInputError('CLI_BAD_INTEGER', `--port must be 0 to 65535, got '${opts.port}'`);
      if (!/^\d{1,4}$/.test(opts.accounts) || Number(opts.accounts) < 1) throw new InvalidInputError('CLI_BAD_INTEGER', `--accounts must be a positive integer, got '${opts.accounts}'`);
      const { deployment: file } = program.opts<ChainOptions>();
      const chain = await import('../chain/index.js');
      const node = await chain.startDevNode({ port: Number(opts.port), host: opts.host, accounts: Number(opts.accounts) });
      chain.saveDeployment(file, node.deployment);
      process.stdout.write(
        `serving the in-process EVM at ${node.url} (chain ${node.deployment.chainId}); contract addresses written to ${file}\n` +
          `development accounts (Hardhat mnemonic: never use these keys for real funds), ${node.allocation / 10n ** 18n} NXS each; sign with --dev-account N:\n` +
          node.accounts.map((a, i) => `  ${String(i).padStart(2)}  ${a}${i === 0 ? '  (coordinator)' : ''}\n`).join('') +
          `stop with Ctrl-C; the chain's state ends with this process\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await node.close();
    });
}
