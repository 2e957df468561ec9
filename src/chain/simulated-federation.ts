import { formatUnits } from 'viem';
import { StateError } from '../core/errors.js';
import { NexusClient } from './client.js';
import { openChain, type ChainConnection } from './connection.js';
import { deployNexus, nxs, type NexusDeployment } from './deploy.js';
import { startEmbeddedNexus } from './dev.js';

export interface SimulatedFederationOptions {
  /** Simulated clients; client i signs with development account i + 1 (account 0 is the coordinator). */
  clients: number;
  /** A JSON-RPC endpoint whose accounts are the development mnemonic's (`cipher-nexus chain serve`, a Hardhat or Anvil node); the in-process EVM when absent. */
  rpcUrl?: string;
  /** With `rpcUrl`: a suite already deployed there; deployed afresh when absent. */
  deployment?: NexusDeployment;
  /** NXS base units given to each development account when the suite is deployed here; 10,000 NXS unless given. */
  allocation?: bigint;
  /** Active stake each participant keeps, base units; 10 times the minimum stake unless given, so a 10% slash does not end its participation. */
  stake?: bigint;
}

/** A chain where the coordinator and every simulated client hold a funded, staked development account. */
export interface SimulatedFederation {
  conn: ChainConnection;
  deployment: NexusDeployment;
  coordinator: NexusClient;
  /** Client i's chain client, signing with its own development key. */
  participants: NexusClient[];
}

async function connect(options: SimulatedFederationOptions): Promise<{ conn: ChainConnection; deployment: NexusDeployment }> {
  const accounts = options.clients + 1;
  const allocation = options.allocation ?? nxs(10_000);
  if (options.rpcUrl === undefined) return startEmbeddedNexus({ accounts, allocation });
  const conn = await openChain({ rpcUrl: options.rpcUrl, devAccounts: accounts });
  if (options.deployment === undefined) {
    return { conn, deployment: await deployNexus(conn, { allocations: conn.accounts.map((a) => ({ account: a.address, amount: allocation })) }) };
  }
  const { deployment } = options;
  const code = deployment.chainId === conn.chain.id ? await conn.publicClient.getCode({ address: deployment.token }) : undefined;
  if (code === undefined || code === '0x') {
    throw new StateError(
      'CHAIN_NO_DEPLOYMENT',
      `no Cipher Nexus token at ${deployment.token} on chain ${conn.chain.id} (the deployment names chain ${deployment.chainId}); start the chain with \`cipher-nexus chain serve\` or give the right deployment file`,
    );
  }
  return { conn, deployment };
}

/**
 * Simulation only: the coordinator process holds every client's key (development accounts of the
 * Hardhat mnemonic), tops each client's active stake up to `stake`, and hands back a client per
 * account. A real participant stakes and claims with its own key (`cipher-nexus stake`).
 */
export async function openSimulatedFederation(options: SimulatedFederationOptions): Promise<SimulatedFederation> {
  const { conn, deployment } = await connect(options);
  const [coordinator, ...participants] = conn.accounts.map((a) => new NexusClient(conn, deployment, a));
  const target = options.stake ?? 10n * (await coordinator.parameters()).minimumStake;
  await Promise.all(
    participants.map(async (p) => {
      const { active } = await p.stakeOf();
      if (active >= target) return;
      const balance = await p.balanceOf();
      if (balance < target - active) {
        throw new StateError(
          'FEDERATION_UNFUNDED',
          `${p.account} holds ${formatUnits(balance, 18)} NXS and needs ${formatUnits(target - active, 18)} NXS more stake; fund it (cipher-nexus token transfer) or simulate fewer clients`,
        );
      }
      await p.stake(target - active);
    }),
  );
  return { conn, deployment, coordinator, participants };
}
