import type { Address } from 'viem';
import { StateError } from '../core/errors.js';
import { devPrivateKeys, openChain } from './connection.js';
import { deployNexus, nxs, type GovernanceSettings, type NexusDeployment } from './deploy.js';
import { createEmbeddedProvider } from './edr-provider.js';
import { serveJsonRpc } from './rpc-server.js';

export interface DevNodeOptions {
  /** TCP port; 8545 (the usual development port) unless given, 0 for any free port. */
  port?: number;
  /** Interface to listen on; loopback unless given. */
  host?: string;
  /** Development accounts (Hardhat mnemonic) funded with ether and NXS; 20 unless given. Account 0 is the coordinator. */
  accounts?: number;
  /**
   * NXS base units minted to each account; 100,000 NXS unless given, so that a couple of accounts
   * reach the 4% quorum (the 1,000,000 NXS reward pool counts in the supply and never votes).
   */
  allocation?: bigint;
  governance?: Partial<GovernanceSettings>;
}

/** A running development chain: its URL, the deployed suite and the funded accounts. */
export interface DevNode {
  url: string;
  deployment: NexusDeployment;
  accounts: Address[];
  /** NXS base units each account was given. */
  allocation: bigint;
  close(): Promise<void>;
}

/**
 * A development chain other processes share: the in-process EVM served as JSON-RPC, the suite
 * deployed through that endpoint, every development account funded. Its state lives in this
 * process's memory and ends with it.
 */
export async function startDevNode(options: DevNodeOptions = {}): Promise<DevNode> {
  const keys = devPrivateKeys(options.accounts ?? 20);
  const port = options.port ?? 8545;
  const server = await serveJsonRpc(await createEmbeddedProvider({ privateKeys: keys }), { port, host: options.host }).catch((error: unknown) => {
    if ((error as { code?: unknown }).code !== 'EADDRINUSE') throw error;
    throw new StateError('CHAIN_PORT_IN_USE', `port ${port} is already in use (another development chain?); stop it or pass --port N (0 for any free port)`);
  });
  try {
    const conn = await openChain({ rpcUrl: server.url, privateKeys: keys });
    const allocation = options.allocation ?? nxs(100_000);
    const deployment = await deployNexus(conn, { governance: options.governance, allocations: conn.accounts.map((a) => ({ account: a.address, amount: allocation })) });
    return { url: server.url, deployment, accounts: conn.accounts.map((a) => a.address), allocation, close: () => server.close() };
  } catch (error) {
    await server.close();
    throw error;
  }
}
