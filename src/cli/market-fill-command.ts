import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Address, Hex } from 'viem';
import type { MarketFillRecord } from '../core/index.js';
import type { FillInfo } from '../chain/index.js';
import { addressArg, fmt, jsonSafe, txLine } from './chain-command.js';
import { DEV_CHAIN_ID, MarketCommandError, fillIdArg, marketAction, operatorAccount, withMarket, type MarketCommandContext, type MarketSession } from './market-context.js';
import { printJson } from './output.js';

const loadMarket = (): Promise<typeof import('../market/index.js')> => import('../market/index.js');

/** The chain's escrow states after which a buyer's job has run, so the buyer may rate it. */
const RATEABLE = new Set(['Completed', 'Disputed', 'Released']);

/** Who may act on a fill: its seller, its buyer, or anyone (the escrow's release is permissionless; a rating's own book checks its rater). */
type FillParty = 'seller' | 'buyer' | 'anyone';

/**
 * A settled fill of the store that the acting account may act on as `party` (`MARKET_FILL_UNKNOWN`,
 * `MARKET_NOT_SELLER`, `MARKET_NOT_BUYER`), with its escrow on chain and the chain's clock, which
 * decides its windows. `action` finishes the refusal's sentence, e.g. "revokes its grant".
 */
async function fillAs({ chain, storage }: MarketSession, id: Hex, party: FillParty, action: string): Promise<{ fill: MarketFillRecord; escrow: FillInfo; now: bigint }> {
  const fill = await storage.market.getFill(id);
  if (!fill || fill.status === 'failed') throw new MarketCommandError('MARKET_FILL_UNKNOWN', `no settled fill ${id} in this store; market fills lists them`);
  const account = chain.account.toLowerCase();
  if (party === 'seller' && fill.seller !== account) throw new MarketCommandError('MARKET_NOT_SELLER', `fill ${id} was sold by ${fill.seller}, not by ${chain.account}; only the seller ${action}`);
  if (party === 'buyer' && fill.buyer !== account) throw new MarketCommandError('MARKET_NOT_BUYER', `fill ${id} was bought by ${fill.buyer}, not by ${chain.account}; only its buyer ${action}`);
  const [escrow, block] = await Promise.all([chain.readFill(id), chain.conn.publicClient.getBlock()]);
  return { fill, escrow, now: block.timestamp };
}

function readGrantFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new MarketCommandError('CLI_GRANT_UNREADABLE', `cannot read the grant file '${file}'`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new MarketCommandError('CLI_GRANT_UNREADABLE', `'${file}' is not JSON; give a grant file market order wrote`);
  }
}

/** Adds `market grant show|revoke`, `market release`, `market rate` and `market dispute` to the `market` command. */
export function registerMarketFillCommands(market: Command, context: MarketCommandContext): void {
  const grant = market.command('grant').description('access grants: what a settled fill gives its buyer, signed by the market operator');
  grant
    .command('show')
    .description("a grant file: what it admits, whether the market operator's signature holds and it is unexpired, the jobs run under it as the --db store counts them, and its fill's escrow on chain")
    .argument('<file>', 'a grant file (market order --grant-out wrote it)')
    .option('--operator <address>', 'the market operator whose signature the grant must carry; on a development chain dev account 0 by default')
    .option('--json', 'print JSON')
    .action(
      marketAction(async (file: string, opts: { operator?: string; json?: boolean }) => {
        const { accessGrantFromJson, accessGrantToJson, marketDomain, verifyAccessGrant, AccessGrantError } = await loadMarket();
        const signed = accessGrantFromJson(readGrantFile(file));
        const operatorGiven = opts.operator === undefined ? undefined : addressArg('--operator', opts.operator);
        const fillId = `0x${signed.grant.fillId.toString(16).padStart(64, '0')}` as Hex;
        const { validity, operator, escrow, stored } = await withMarket(context, async ({ chain, storage }) => {
          const chainId = chain.conn.chain.id;
          const operator: Address | undefined = operatorGiven ?? (chainId === DEV_CHAIN_ID ? (await operatorAccount(undefined, chainId)).address : undefined);
          let validity = operator === undefined ? 'not checked: give --operator ADDRESS' : 'valid';
          if (operator !== undefined) {
            try {
              await verifyAccessGrant(marketDomain(chainId, chain.deployment.escrow), signed, operator, Math.floor(Date.now() / 1000));
            } catch (error) {
              if (!(error instanceof AccessGrantError)) throw error;
              validity = `refused [${error.code}]: ${error.message}`;
            }
          }
          return { validity, operator, escrow: await chain.readFill(fillId), stored: await storage.market.getGrant(fillId) };
        });
        // The jobs run under the grant as this store counts them (`serve --grant` counts each job that ran to its end).
        const use = stored ? { used: stored.used, units: stored.units, status: stored.status } : null;
        if (opts.json) return printJson({ ...(accessGrantToJson(signed) as object), fillId, operator: operator ?? null, validity, escrow: jsonSafe(escrow), use });
        const g = signed.grant;
        process.stdout.write(
          `grant of fill ${fillId}: ${g.units} job(s) on asset ${g.assetId} for ${g.buyer}, job configuration ${g.jobConfigHash}, until ${new Date(g.expiry * 1000).toISOString()}\n` +
            `  signature: ${validity}\n` +
            `  jobs run: ${use ? `${use.used} of ${use.units} (${use.status})` : 'not in this store'}\n` +
            `  escrow: ${escrow.status}, ${fmt(escrow.amount)} for ${escrow.units} unit(s) at ${fmt(escrow.price)}\n`,
        );
      }),
    );
  grant
    .command('revoke')
    .description("owner: withdraw a sale before its job has used the grant; the escrow refunds the buyer in full")
    .argument('<fill>', "the fill's id")
    .action(
      marketAction(async (id: string) => {
        const fillId = fillIdArg(id);
        const line = await withMarket(context, async (session) => {
          const { escrow } = await fillAs(session, fillId, 'seller', 'revokes its grant');
          const stored = await session.storage.market.getGrant(fillId);
          if (stored && stored.used > 0) throw new MarketCommandError('MARKET_GRANT_USED', `the grant of fill ${fillId} has run ${stored.used} job(s); a grant in use cannot be revoked (the buyer may dispute)`);
          if (escrow.status !== 'Held') throw new MarketCommandError('MARKET_FILL_NOT_HELD', `fill ${fillId} is ${escrow.status} on chain; only a fill whose escrow is still held can be revoked`);
          const tx = await session.chain.revoke(fillId);
          const now = Math.floor(Date.now() / 1000);
          await session.storage.market.updateFill(fillId, { status: 'revoked', updatedAt: now });
          if (stored) await session.storage.market.updateGrant(fillId, { used: stored.used, status: 'revoked', updatedAt: now });
          return txLine(`revoked the grant of fill ${fillId}; ${fmt(escrow.amount)} refunded to ${escrow.buyer}`, tx);
        });
        process.stdout.write(line);
      }),
    );

  market
    .command('release')
    .description("anyone: pay a completed fill's escrowed NXS to its seller once the buyer's dispute window has passed")
    .argument('<fill>', "the fill's id")
    .action(
      marketAction(async (id: string) => {
        const fillId = fillIdArg(id);
        const line = await withMarket(context, async (session) => {
          const { escrow, now } = await fillAs(session, fillId, 'anyone', 'releases it');
          if (escrow.status !== 'Completed') throw new MarketCommandError('MARKET_FILL_NOT_COMPLETED', `fill ${fillId} is ${escrow.status} on chain; only a completed fill (its job ran and the coordinator posted it) is released`);
          if (now < escrow.disputeUntil) {
            throw new MarketCommandError('MARKET_DISPUTE_WINDOW_OPEN', `the buyer may dispute fill ${fillId} until ${new Date(Number(escrow.disputeUntil) * 1000).toISOString()}; release it after that`);
          }
          const tx = await session.chain.release(fillId);
          await session.storage.market.updateFill(fillId, { status: 'released', updatedAt: Number(now) });
          return txLine(`released fill ${fillId}: ${fmt(escrow.amount)} paid to the seller ${escrow.seller}`, tx);
        });
        process.stdout.write(line);
      }),
    );

  market
    .command('rate')
    .description("buyer: rate the asset of a purchase whose job has completed, once per fill; market show weighs ratings by each rater's on-chain reputation")
    .argument('<fill>', "the fill's id")
    .requiredOption('--score <n>', 'a whole number from 1 to 5')
    .action(
      marketAction(async (id: string, opts: { score: string }) => {
        const fillId = fillIdArg(id);
        const { RatingBook } = await loadMarket();
        const rating = await withMarket(context, async (session) => {
          const { fill, escrow } = await fillAs(session, fillId, 'anyone', 'rates it');
          const book = new RatingBook(async (rater, purchase, assetId) => fill.buyer === rater.toLowerCase() && fill.id === purchase && fill.assetId === assetId && RATEABLE.has(escrow.status));
          const rated = await book.rate({ assetId: fill.assetId, fillId, rater: session.chain.account, score: opts.score.trim() === '' ? NaN : Number(opts.score) });
          await session.storage.market.insertRating({ assetId: rated.assetId, fillId, rater: rated.rater.toLowerCase(), score: rated.score, createdAt: Math.floor(Date.now() / 1000) });
          return rated;
        });
        process.stdout.write(`rated asset ${rating.assetId} ${rating.score}/5 for fill ${fillId}\n`);
      }),
    );

  market
    .command('dispute')
    .description("buyer: dispute a fill before its job completes or within the dispute window after; the escrow holds the NXS until the arbiter (governance) decides")
    .argument('<fill>', "the fill's id")
    .action(
      marketAction(async (id: string) => {
        const fillId = fillIdArg(id);
        const line = await withMarket(context, async (session) => {
          const { escrow, now } = await fillAs(session, fillId, 'buyer', 'disputes it');
          const open = escrow.status === 'Held' || (escrow.status === 'Completed' && now < escrow.disputeUntil);
          if (!open) throw new MarketCommandError('MARKET_DISPUTE_CLOSED', `fill ${fillId} is ${escrow.status} on chain${escrow.disputeUntil > 0n ? ` and its dispute window closed at ${new Date(Number(escrow.disputeUntil) * 1000).toISOString()}` : ''}; it can no longer be disputed`);
          const tx = await session.chain.dispute(fillId);
          await session.storage.market.updateFill(fillId, { status: 'disputed', updatedAt: Number(now) });
          return txLine(`disputed fill ${fillId}: ${fmt(escrow.amount)} stays in escrow until the arbiter decides`, tx);
        });
        process.stdout.write(line);
      }),
    );
}
