import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { InvalidInputError } from '../core/errors.js';
import type { ChainClient } from '../chain/index.js';
import type { RoundIncentives } from '../fl/index.js';

/** Where `chain serve` saves the contract addresses and the chain commands read them, unless told otherwise. */
export const DEFAULT_DEPLOYMENT = '.cipher-nexus/chain.json';

/** The program's chain options (global, so they work before or after a command). */
export interface ChainOptions {
  rpc?: string;
  deployment: string;
  chainKey?: string;
  devAccount?: string;
}

// Loaded when a command reaches the chain: viem and the contract artefacts cost a good part of a second.
const loadChain = (): Promise<typeof import('../chain/index.js')> => import('../chain/index.js');

/** Adds --rpc, --deployment, --chain-key and --dev-account to the program (`--key` belongs to `client`, where it names a startup kit). */
export function addChainOptions(program: Command): void {
  program
    .addOption(new Option('--rpc <url>', 'JSON-RPC endpoint of the chain, e.g. the one `cipher-nexus chain serve` prints').env('CIPHER_NEXUS_RPC'))
    .addOption(new Option('--deployment <file>', 'contract addresses on that chain').env('CIPHER_NEXUS_DEPLOYMENT').default(DEFAULT_DEPLOYMENT))
    .addOption(new Option('--chain-key <hex>', 'private key that signs chain commands').env('CIPHER_NEXUS_KEY'))
    .addOption(new Option('--dev-account <n>', 'sign with development account N of the Hardhat mnemonic instead (development chains only)').conflicts('chainKey'));
}

function devAccountIndex(value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^\d{1,4}$/.test(value)) throw new InvalidInputError('CLI_BAD_INTEGER', `--dev-account must be a non-negative integer, got '${value}'`);
  return Number(value);
}

/** The chain client the chain commands act with: the endpoint of --rpc, the deployment file, and the signer of --chain-key or --dev-account. */
export async function openChainClient(program: Command): Promise<ChainClient> {
  const options = program.opts<ChainOptions>();
  if (!options.rpc) {
    throw new InvalidInputError('CLI_NO_RPC', 'chain commands need a running chain: start one with `cipher-nexus chain serve` and pass --rpc http://127.0.0.1:8545 (or set CIPHER_NEXUS_RPC)');
  }
  const index = devAccountIndex(options.devAccount);
  const chain = await loadChain();
  const deployment = chain.loadDeployment(options.deployment);
  const key = options.chainKey ?? chain.devPrivateKeys(index + 1)[index];
  const conn = await chain.openChain({ rpcUrl: options.rpc, privateKeys: [key as `0x${string}`] });
  if (conn.chain.id !== deployment.chainId) {
    throw new InvalidInputError('CHAIN_WRONG_NETWORK', `${options.rpc} is chain ${conn.chain.id} but '${options.deployment}' is a deployment on chain ${deployment.chainId}`);
  }
  return new chain.NexusClient(conn, deployment, conn.accounts[0]);
}

/** A connection that only reads the chain of --rpc and the contracts of --deployment; `needs` says, in an error, what wants it. */
export async function openChainReader(rpc: string | undefined, deploymentFile: string, needs: string): Promise<{ conn: import('../chain/index.js').ChainConnection; deployment: import('../chain/index.js').NexusDeployment }> {
  if (!rpc) throw new InvalidInputError('CLI_NO_RPC', `${needs} needs a running chain: pass --rpc URL (e.g. the one \`cipher-nexus chain serve\` prints) and --deployment FILE`);
  const chain = await loadChain();
  const { generatePrivateKey } = await import('viem/accounts');
  const deployment = chain.loadDeployment(deploymentFile);
  // Only reads: a throwaway key, which never signs anything.
  const conn = await chain.openChain({ rpcUrl: rpc, privateKeys: [generatePrivateKey()] });
  if (conn.chain.id !== deployment.chainId) {
    throw new InvalidInputError('CHAIN_WRONG_NETWORK', `${rpc} is chain ${conn.chain.id} but '${deploymentFile}' is a deployment on chain ${deployment.chainId}`);
  }
  return { conn, deployment };
}

/**
 * Starts the demo's token economy at once (alongside the data loading) and returns what turns the
 * job's client ids into its incentives: the in-process EVM, or with --rpc that endpoint and the
 * deployment saved for it (deployed and saved when there is none yet).
 */
export function startDemoEconomy(program: Command, clients: number): (clientIds: readonly string[]) => Promise<RoundIncentives> {
  const options = program.opts<ChainOptions>();
  const started = (async () => {
    const chain = await loadChain();
    // An empty --rpc (or CIPHER_NEXUS_RPC) means none, as for the chain commands.
    const rpcUrl = options.rpc || undefined;
    const deployment = rpcUrl !== undefined && existsSync(options.deployment) ? chain.loadDeployment(options.deployment) : undefined;
    const federation = await chain.openSimulatedFederation({ clients, rpcUrl, deployment });
    if (rpcUrl !== undefined && deployment === undefined) chain.saveDeployment(options.deployment, federation.deployment);
    return { chain, federation };
  })();
  // Awaited below; this keeps a failure from being reported as unhandled if the data loading fails first.
  started.catch(() => undefined);
  return async (clientIds) => {
    const { chain, federation } = await started;
    return chain.JobEconomy.open({ coordinator: federation.coordinator, participants: new Map(clientIds.map((id, i) => [id, federation.participants[i]])) });
  };
}
