import { CipherNexusError, InvalidInputError, type AuditTrail } from '../core/index.js';
import type { ServerHeader } from '../protocol/index.js';
import { openChainReader } from './chain-context.js';

/** What `client --asset` needs to check the jobs it is offered. */
export interface AssetGateOptions {
  assetId: string;
  /** The market operator whose signature a grant must carry. */
  issuer: string;
  /** Where this node counts the jobs each grant admitted. */
  usageFile: string;
  /** The chain the escrow is on, read for the domain and for refunded (revoked) fills. */
  rpc: string;
  deployment: string;
  /** The owner's own hash-chained record of every grant check. */
  audit: AuditTrail;
  /** Who checks: the participant the kit names. */
  actor: string;
}

/**
 * The owner's agent's check of a job before it reads a row: the welcome must carry an access grant
 * for this asset, signed by the market operator for this chain's escrow, naming exactly the job
 * configuration the coordinator sent, not refunded on chain, and with a unit left on this node.
 */
export async function assetGate(options: AssetGateOptions): Promise<(jobId: string, market: ServerHeader<'welcome'>['market']) => Promise<void>> {
  if (!/^\d+$/.test(options.assetId)) throw new InvalidInputError('CLI_OPTION_INVALID', `--asset must be an asset id (a whole number), got '${options.assetId}'`);
  if (!/^0x[0-9a-fA-F]{40}$/.test(options.issuer)) throw new InvalidInputError('CLI_OPTION_INVALID', `--market-operator must be the operator's address (0x and 40 hex digits), got '${options.issuer}'`);
  const chain = await import('../chain/index.js');
  const market = await import('../market/index.js');
  const { conn, deployment } = await openChainReader(options.rpc, options.deployment, '--asset');
  const client = new chain.MarketClient(conn, deployment);
  const gate = new market.GrantGate({
    domain: market.marketDomain(conn.chain.id, deployment.escrow),
    issuer: options.issuer as `0x${string}`,
    assetId: BigInt(options.assetId),
    usage: new market.FileGrantUsage(options.usageFile),
    revoked: async (fillId) => (await client.readFill(`0x${fillId.toString(16).padStart(64, '0')}`)).status === 'Refunded',
    now: () => Math.floor(Date.now() / 1000),
  });
  return async (jobId, offer) => {
    try {
      if (!offer) throw new market.AccessGrantError('GRANT_MISSING', `job ${jobId} carries no access grant; this node serves asset ${options.assetId} only to jobs bought on the market`);
      const admitted = await gate.admit(market.accessGrantFromJson(offer.grant), jobId, market.jobConfigHash(offer.config));
      await options.audit.append('grant.admitted', options.actor, { assetId: options.assetId, jobId, fillId: admitted.grant.fillId.toString(), buyer: admitted.grant.buyer, remaining: admitted.remaining });
    } catch (error) {
      const code = error instanceof CipherNexusError ? error.code : 'GRANT_INVALID';
      await options.audit.append('grant.refused', options.actor, { assetId: options.assetId, jobId, code, message: (error as Error).message });
      throw error;
    }
  };
}
