import type { Address } from 'viem';
import { NexusClient } from './client.js';
import { openChain, type ChainConnection } from './connection.js';
import { deployNexus, nxs, type DeployOptions, type NexusDeployment } from './deploy.js';

export interface EmbeddedNexusOptions extends Omit<DeployOptions, 'allocations'> {
  /** Development accounts to derive and fund; the first is the deployer and coordinator. 10 unless given. */
  accounts?: number;
  /** NXS base units minted to every account at launch; 10,000 NXS unless given. */
  allocation?: bigint;
}

/** A fresh in-process chain with the suite deployed: the coordinator's client and one client per other account. */
export interface EmbeddedNexus {
  conn: ChainConnection;
  deployment: NexusDeployment;
  coordinator: NexusClient;
  participants: NexusClient[];
  addresses: Address[];
}

/** Starts the in-process EVM, deploys the suite and funds every development account (the demo's and tests' chain). */
export async function startEmbeddedNexus(options: EmbeddedNexusOptions = {}): Promise<EmbeddedNexus> {
  const conn = await openChain({ devAccounts: options.accounts ?? 10 });
  const allocation = options.allocation ?? nxs(10_000);
  const deployment = await deployNexus(conn, { ...options, allocations: conn.accounts.map((a) => ({ account: a.address, amount: allocation })) });
  const [coordinator, ...participants] = conn.accounts.map((a) => new NexusClient(conn, deployment, a));
  return { conn, deployment, coordinator, participants, addresses: conn.accounts.map((a) => a.address) };
}
