import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { InvalidInputError, loadConfigFile, type Storage } from '../core/index.js';
import type { PreparedCoordinatedJob } from '../fl/index.js';
import { accessGrantFromJson, accessGrantToJson, assetScope, jobConfigHash, recordGrantJob } from '../market/index.js';

/** What `serve --grant` adds to a job bought on the data market. */
export interface MarketJob {
  /** Sent in every welcome: the owner's agent checks the grant and the configuration's hash before it reads a row. */
  market: { grant: unknown; config: Record<string, unknown> };
  /** The job charged to the asset's ledger scope for this buyer instead of the data set's. */
  prepared: PreparedCoordinatedJob;
}

/**
 * Reads the access grant a bought job runs under and checks, before anything starts, that it names
 * exactly this job configuration file, that the job uses differential privacy, and that the store
 * holds the asset's budget for the buyer (the market desk opened it when the purchase was checked).
 */
export async function marketJob(grantFile: string, configFile: string, prepared: PreparedCoordinatedJob, storage: Storage): Promise<MarketJob> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(grantFile, 'utf8'));
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new InvalidInputError('MARKET_GRANT_UNREADABLE', missing ? `grant file '${grantFile}' does not exist; \`cipher-nexus market order\` writes one per purchase` : `grant file '${grantFile}' is not JSON`);
  }
  const signed = accessGrantFromJson(json);
  const config = loadConfigFile(configFile, z.record(z.unknown()));
  if (jobConfigHash(config) !== signed.grant.jobConfigHash) {
    throw new InvalidInputError(
      'MARKET_GRANT_CONFIG_MISMATCH',
      `the grant of fill ${signed.grant.fillId} was bought for another job configuration than '${configFile}' (hash ${jobConfigHash(config)}, granted ${signed.grant.jobConfigHash}); run the configuration you bought`,
    );
  }
  if (!prepared.config.privacy.dp) {
    throw new InvalidInputError('MARKET_JOB_NEEDS_DP', `a job on a market asset charges the asset's privacy budget: give '${configFile}' privacy.dp`);
  }
  const scope = assetScope(signed.grant.assetId.toString(), signed.grant.buyer);
  if (!(await storage.privacy.getBudget(scope))) {
    throw new InvalidInputError(
      'MARKET_BUDGET_UNKNOWN',
      `this store has no budget for asset ${signed.grant.assetId} and buyer ${signed.grant.buyer}; serve with the --db the purchase was made against`,
    );
  }
  return { market: { grant: accessGrantToJson(signed), config }, prepared: { ...prepared, datasetId: scope.id } };
}

/** The store's id of a grant's fill (and of the grant): the escrow's 32-byte hash. */
function fillIdOf(grant: unknown): `0x${string}` {
  return `0x${accessGrantFromJson(grant).grant.fillId.toString(16).padStart(64, '0')}`;
}

/** Counts a bought job that ran to its end against its grant in the store, and says where the grant stands. */
export async function recordJobOnGrant(storage: Storage, grant: unknown): Promise<string> {
  const fillId = fillIdOf(grant);
  const record = await recordGrantJob(storage, fillId, Math.floor(Date.now() / 1000));
  if (!record) return `warning: this store holds no grant of fill ${fillId}; the job was not counted against it here`;
  return `grant of fill ${fillId}: ${record.used} of ${record.units} job(s) run${record.status === 'active' ? '' : ` (${record.status})`}`;
}

/**
 * The completion evidence of a bought job, posted to the escrow by the market operator's key: the
 * final model's hash and the job's last reward root (zero when the job posted none). The buyer's
 * dispute window starts here; after it the seller is paid.
 */
export async function completeOnChain(program: Command, storage: Storage, grant: unknown, report: { model: { sha256: string }; chain?: { rewardRoots: string[] } }): Promise<string> {
  const { openChainClient } = await import('./chain-context.js');
  const { MarketClient } = await import('../chain/index.js');
  const client = await openChainClient(program);
  const market = new MarketClient(client.conn, client.deployment, client.signer);
  const fillId = fillIdOf(grant);
  const rewardRoot = (report.chain?.rewardRoots.at(-1) ?? `0x${'0'.repeat(64)}`) as `0x${string}`;
  const tx = await market.complete(fillId, `0x${report.model.sha256}`, rewardRoot);
  if (await storage.market.getFill(fillId)) await storage.market.updateFill(fillId, { status: 'completed', updatedAt: Math.floor(Date.now() / 1000) });
  return `fill ${fillId} completed on chain (tx ${tx.hash}); the buyer may dispute until the window ends, then the escrow's release (anyone may call it) pays the seller`;
}
