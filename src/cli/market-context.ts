import { z } from 'zod';
import type { LocalAccount } from 'viem';
import { CipherNexusError, InvalidInputError, NotFoundError, StateError, loadConfigFile, parseWithSchema, type Storage } from '../core/index.js';
import type { ChainClient, MarketClient } from '../chain/index.js';
import type { DescribeJob, Marketplace } from '../market/index.js';

// viem, the contract artefacts and the FL layer (TF.js) load when an action needs them, so that
// `--help` and commands over the store alone do not pay for them.
const loadChain = (): Promise<typeof import('../chain/index.js')> => import('../chain/index.js');
const loadMarket = (): Promise<typeof import('../market/index.js')> => import('../market/index.js');

/** What the market commands act with: the chain client of the acting account, and the `--db` store (each command closes it). */
export interface MarketCommandContext {
  open: () => Promise<ChainClient>;
  storage: () => Promise<Storage>;
}

/** A market command refused its input (a flag, a file, or a request the market desk refused); the CLI exits 2. */
export class MarketCommandError extends InvalidInputError {}

/** The chain id of development chains (`chain serve`, the in-process EVM), where dev account 0 may sign grants. */
export const DEV_CHAIN_ID = 31337;

/** One command's chain client, its market client (signing as the same account) and the open store. */
export interface MarketSession {
  client: ChainClient;
  chain: MarketClient;
  storage: Storage;
}

/**
 * The market desk's refusals (a bid that breaks the asset's terms, an unknown asset, an
 * over-budget purchase, a second rating) are the user's to fix, so the CLI reports them as bad
 * input (exit 2) with their own code and message; anything else passes through.
 */
async function asRefusal(error: unknown): Promise<unknown> {
  if (!(error instanceof CipherNexusError) || error instanceof InvalidInputError || error instanceof NotFoundError) return error;
  const m = await loadMarket();
  const refusals = [m.MarketError, m.ComplianceError, m.AssetBudgetError, m.RatingError, m.AccessGrantError, m.QualityReportError, m.AssetVaultError];
  // The store's duplicates (a second rating of a fill) are the user's to fix; a settlement the chain refused is not.
  const duplicate = error instanceof StateError && /^MARKET_[A-Z_]+_DUPLICATE$/.test(error.code);
  return duplicate || refusals.some((kind) => error instanceof kind) ? new MarketCommandError(error.code, error.message, error.details) : error;
}

/** A command action whose market refusals exit 2 (see {@link asRefusal}). */
export function marketAction<A extends unknown[]>(action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (error) {
      throw await asRefusal(error);
    }
  };
}

/** Runs `fn` with the chain and the store, closing the store after; the chain is reached first so a missing endpoint leaves the store untouched. */
export async function withMarket<T>(context: MarketCommandContext, fn: (session: MarketSession) => Promise<T>): Promise<T> {
  const client = await context.open();
  const { MarketClient } = await loadChain();
  const storage = await context.storage();
  try {
    return await fn({ client, chain: new MarketClient(client.conn, client.deployment, client.signer), storage });
  } finally {
    await storage.close();
  }
}

/** Runs `fn` with the store alone, closing it after. */
export async function withStore<T>(context: MarketCommandContext, fn: (storage: Storage) => Promise<T>): Promise<T> {
  const storage = await context.storage();
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

/** The market operator, who signs access grants: `--operator-key`, or on a development chain dev account 0 (the coordinator of `chain serve`). */
export async function operatorAccount(key: string | undefined, chainId: number): Promise<LocalAccount> {
  const { privateKeyToAccount } = await import('viem/accounts');
  if (key !== undefined) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new MarketCommandError('CLI_BAD_KEY', '--operator-key must be a private key: 0x and 64 hex digits');
    return privateKeyToAccount(key as `0x${string}`);
  }
  if (chainId !== DEV_CHAIN_ID) {
    throw new MarketCommandError('MARKET_NO_OPERATOR', `chain ${chainId} is not a development chain; give the market operator's key that signs grants with --operator-key or CIPHER_NEXUS_OPERATOR_KEY`);
  }
  const { devPrivateKeys } = await loadChain();
  return privateKeyToAccount(devPrivateKeys(1)[0]);
}

/** The market desk over this session; `describeJob` is needed only to place bids. */
export async function openDesk(session: MarketSession, operator: LocalAccount, describeJob?: DescribeJob): Promise<Marketplace> {
  const { Marketplace } = await loadMarket();
  const refuse: DescribeJob = () => {
    throw new MarketCommandError('MARKET_INTENT_REQUIRED', 'a bid needs --purpose, --region and --job');
  };
  return new Marketplace({ storage: session.storage, chain: session.chain, operator, describeJob: describeJob ?? refuse });
}

/** A buyer's job configuration file (JSON or YAML) as written: its canonical hash is what the grant names. */
export function readJobFile(path: string): Record<string, unknown> {
  return loadConfigFile(path, z.record(z.unknown()));
}

/**
 * The size of a job as the market prices it, read with the FL layer's job schema: its rounds and
 * the epsilon its DP budget lets it spend. A job without DP could spend any epsilon, so the
 * market, whose unit is a bounded spend, refuses it.
 */
export async function jobDescriber(): Promise<DescribeJob> {
  const { JobConfigSchema } = await import('../fl/index.js');
  return (config) => {
    const job = parseWithSchema(config, JobConfigSchema, 'job config', { code: 'MARKET_JOB_INVALID' });
    const dp = job.privacy.dp;
    if (!dp) {
      throw new MarketCommandError('MARKET_JOB_NO_DP', 'the job has no differential privacy (privacy.dp); a market purchase buys a bounded epsilon, so add privacy.dp with a budget.epsilon to the job');
    }
    return { rounds: job.rounds, epsilon: dp.budget.epsilon };
  };
}

/** A data asset's token id, in decimal. */
export function assetIdArg(value: string): string {
  if (!/^\d{1,78}$/.test(value.trim())) throw new MarketCommandError('CLI_BAD_ASSET', `an asset id is the token's number, e.g. 1, got '${value}'`);
  return BigInt(value.trim()).toString();
}

/** A settled fill's id: the escrow's 32-byte hash. */
export function fillIdArg(value: string): `0x${string}` {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new MarketCommandError('CLI_BAD_FILL', `a fill id is 0x and 64 hex digits (market fills prints them), got '${value}'`);
  return value.toLowerCase() as `0x${string}`;
}

/** A positive whole number of a flag. */
export function positiveIntArg(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new MarketCommandError('CLI_BAD_INTEGER', `${flag} must be a positive integer, got '${value}'`);
  return n;
}

/** A positive number of a flag, below `max` when given. */
export function positiveNumberArg(flag: string, value: string, max = Infinity): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n >= max) {
    throw new MarketCommandError('CLI_BAD_NUMBER', `${flag} must be a number above 0${max < Infinity ? ` and below ${max}` : ''}, got '${value}'`);
  }
  return n;
}

/** A comma-separated list of names. */
export function listArg(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/** An order's expiry in unix seconds: a duration from `now` (90s, 30m, 1h, 7d) or an ISO 8601 time; it must be in the future. */
export function expiryArg(value: string, now: number): number {
  const duration = /^(\d{1,7})([smhd])$/.exec(value.trim());
  const at = duration ? now + Number(duration[1]) * UNIT_SECONDS[duration[2]] : /^\d{4}-\d{2}-\d{2}/.test(value) ? Math.floor(Date.parse(value) / 1000) : NaN;
  if (!Number.isFinite(at)) throw new MarketCommandError('CLI_BAD_EXPIRY', `--expiry is a duration like 1h or 7d, or an ISO time like 2030-01-01T00:00:00Z, got '${value}'`);
  if (at <= now) throw new MarketCommandError('CLI_BAD_EXPIRY', `--expiry ${value} is in the past; give a later time`);
  return at;
}
