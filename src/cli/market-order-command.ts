import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { StateError, type MarketOrderRecord } from '../core/index.js';
import type { BuyerIntent, Placement } from '../market/index.js';
import { amountArg, fmt, integerArg, jsonSafe, txLine } from './chain-command.js';
import {
  MarketCommandError,
  assetIdArg,
  expiryArg,
  jobDescriber,
  marketAction,
  openDesk,
  operatorAccount,
  positiveIntArg,
  readJobFile,
  withMarket,
  type MarketCommandContext,
  type MarketSession,
} from './market-context.js';
import { printJson, writeJsonFile } from './output.js';

const loadMarket = (): Promise<typeof import('../market/index.js')> => import('../market/index.js');

/** Where a buyer's grants are written unless `--grant-out` says otherwise. */
export const DEFAULT_GRANT_DIR = '.cipher-nexus/grants';

/** An order the acting account is about to sign. */
export interface OrderRequest {
  assetId: string;
  side: 'bid' | 'ask';
  /** NXS base units per access unit. */
  price: bigint;
  units: number;
  /** Unix seconds. */
  expiry: number;
}

/**
 * The maker's next unused nonce: one past the highest it used in this store, skipping nonces it
 * cancelled on chain (a nonce cancelled from another store would make the escrow refuse the order).
 */
async function nextNonce({ chain, storage }: MarketSession): Promise<bigint> {
  const maker = chain.account.toLowerCase();
  let nonce = 1n;
  for (const order of await storage.market.listOrders()) if (order.maker === maker && order.nonce >= nonce) nonce = order.nonce + 1n;
  while (await chain.isNonceCancelled(chain.account, nonce)) nonce++;
  return nonce;
}

/** Signs `request` with the session's chain key and places it with the market desk, settling what it matches. */
export async function placeOrder(session: MarketSession, operatorKey: string | undefined, request: OrderRequest, intent?: BuyerIntent): Promise<Placement> {
  const { marketDomain, signOrder, toOrderJson } = await loadMarket();
  const operator = await operatorAccount(operatorKey, session.chain.conn.chain.id);
  const desk = await openDesk(session, operator, intent ? await jobDescriber() : undefined);
  const { chain } = session;
  const signed = await signOrder(chain.signer, marketDomain(chain.conn.chain.id, chain.deployment.escrow), {
    assetId: BigInt(request.assetId),
    side: request.side,
    price: request.price,
    units: BigInt(request.units),
    expiry: BigInt(request.expiry),
    nonce: await nextNonce(session),
    maker: chain.account,
  });
  return desk.place(toOrderJson(signed), intent);
}

/** The lines that tell what placing an order did. */
export function placementLines(placement: Placement, grantFiles: ReadonlyMap<string, string> = new Map()): string {
  const { order } = placement;
  const state = order.status === 'open' ? `${order.remaining} resting on the book` : order.status;
  const lines = [`order ${order.hash} (nonce ${order.nonce}): ${order.side} ${order.units} unit(s) of asset ${order.assetId} at ${fmt(order.price)}; ${state}`];
  for (const { fill } of placement.sales) {
    const grant = grantFiles.get(fill.id);
    lines.push(`  filled ${fill.units} unit(s) at ${fmt(fill.price)}: fill ${fill.id} (tx ${fill.txHash})${grant ? `; grant written to ${grant}` : ''}`);
  }
  for (const { fill, error } of placement.failed) lines.push(`  settling ${fill.units} unit(s) between buyer ${fill.buyer} and seller ${fill.seller} failed, both orders left the book: ${error}`);
  return `${lines.join('\n')}\n`;
}

/** A settlement the chain refused is no fault of the input, but the command did not do all it was asked: exit 1 after the report. */
export function settlementsHeld(placement: Placement): void {
  if (placement.failed.length === 0) return;
  throw new StateError('MARKET_SETTLEMENT_FAILED', `${placement.failed.length} match(es) failed to settle on chain and their orders left the book (first: ${placement.failed[0].error}); place the order again`);
}

/** The order as printed by `--json`. */
const orderJson = (order: MarketOrderRecord): unknown => jsonSafe({ ...order, intent: undefined });

/** Adds `market order` and `market cancel` to the `market` command. */
export function registerMarketOrderCommands(market: Command, context: MarketCommandContext): void {
  market
    .command('order')
    .description('sign an order with your chain key and place it: a bid buys access units (training jobs) of an asset, an ask sells them; what crosses settles on chain at once')
    .requiredOption('--asset <id>', 'the asset (its token id)')
    .requiredOption('--side <side>', 'bid (buy) or ask (sell; only the owner)')
    .requiredOption('--price <nxs>', 'NXS per access unit, more than 0')
    .requiredOption('--units <n>', 'access units')
    .option('--expiry <when>', 'a duration (90s, 30m, 1h, 7d) or an ISO time', '1d')
    .option('--purpose <purpose>', "bid: what the model is for, e.g. research; checked against the asset's consent and licence")
    .option('--region <region>', "bid: where the model is used, e.g. eu; checked against the asset's regions")
    .option('--job <file>', 'bid: the job configuration (JSON or YAML) you will run; it must use differential privacy within one unit of the asset; the grant names its hash')
    .option('--approve', 'bid: first approve the escrow to take price × units of your NXS (replaces any earlier approval)')
    .option('--grant-out <dir>', 'bid: where to write the grant of each fill, one <fill id>.json each', DEFAULT_GRANT_DIR)
    .addOption(new Option('--operator-key <hex>', 'key of the market operator who signs grants; on a development chain dev account 0 by default').env('CIPHER_NEXUS_OPERATOR_KEY'))
    .option('--json', 'print JSON')
    .action(
      marketAction(async (opts: { asset: string; side: string; price: string; units: string; expiry: string; purpose?: string; region?: string; job?: string; approve?: boolean; grantOut: string; operatorKey?: string; json?: boolean }) => {
        if (opts.side !== 'bid' && opts.side !== 'ask') throw new MarketCommandError('CLI_BAD_SIDE', `--side is bid or ask, got '${opts.side}'`);
        const request: OrderRequest = {
          assetId: assetIdArg(opts.asset),
          side: opts.side,
          price: amountArg('--price', opts.price),
          units: positiveIntArg('--units', opts.units),
          expiry: expiryArg(opts.expiry, Math.floor(Date.now() / 1000)),
        };
        const given = [opts.purpose, opts.region, opts.job].filter((o) => o !== undefined).length;
        if (request.side === 'ask' && (given > 0 || opts.approve)) throw new MarketCommandError('CLI_ORDER_USAGE', '--purpose, --region, --job and --approve belong to a bid; an ask sells access to your own asset');
        if (request.side === 'bid' && given < 3) throw new MarketCommandError('MARKET_INTENT_REQUIRED', 'a bid needs --purpose, --region and --job: the asset owner allows some uses, regions and job sizes only');
        let intent: BuyerIntent | undefined;
        if (request.side === 'bid') {
          intent = (await loadMarket()).parseBuyerIntent({ purpose: opts.purpose, region: opts.region, jobConfig: readJobFile(opts.job as string) });
          // Read now, so that a job without DP is refused before any approval or signature.
          (await jobDescriber())(intent.jobConfig);
        }
        const placement = await withMarket(context, async (session) => {
          if (intent && opts.approve) await approveFor(session, request, intent);
          return placeOrder(session, opts.operatorKey, request, intent);
        });
        const grantFiles = new Map<string, string>();
        if (request.side === 'bid') {
          const { accessGrantToJson } = await loadMarket();
          for (const { fill, grant } of placement.sales) {
            const file = resolve(join(opts.grantOut, `${fill.id}.json`));
            writeJsonFile(file, accessGrantToJson(grant));
            grantFiles.set(fill.id, file);
          }
        }
        if (opts.json) {
          printJson({
            order: orderJson(placement.order),
            fills: placement.sales.map(({ fill }) => ({ ...(jsonSafe(fill) as object), grantFile: grantFiles.get(fill.id) ?? null })),
            failed: placement.failed.map(({ fill, error }) => ({ fill: jsonSafe(fill), error })),
          });
        } else {
          process.stdout.write(placementLines(placement, grantFiles));
        }
        settlementsHeld(placement);
      }),
    );

  market
    .command('approve')
    .description('buyer: let the escrow take up to this much of your NXS when your bids settle (replaces any earlier approval); market order --approve does it per bid')
    .argument('<nxs>', 'the most NXS the escrow may take')
    .action(
      marketAction(async (amount: string) => {
        const units = amountArg('the amount', amount);
        const tx = await withMarket(context, (session) => session.chain.approveEscrow(units));
        process.stdout.write(txLine(`the escrow may take up to ${fmt(units)} of yours for your bids`, tx));
      }),
    );

  market
    .command('cancel')
    .description('cancel your open order: its nonce is cancelled on chain (so no one can settle it), then it leaves the book')
    .requiredOption('--asset <id>', 'the asset the order is for')
    .requiredOption('--nonce <n>', "the order's nonce (market order printed it)")
    .action(
      marketAction(async (opts: { asset: string; nonce: string }) => {
        const assetId = assetIdArg(opts.asset);
        const nonce = integerArg('--nonce', opts.nonce);
        const line = await withMarket(context, async (session) => {
          const maker = session.chain.account.toLowerCase();
          const open = (await session.storage.market.listOrders({ assetId, status: 'open' })).find((o) => o.maker === maker && o.nonce === nonce);
          if (!open) throw new MarketCommandError('MARKET_ORDER_UNKNOWN', `${session.chain.account} has no open order on asset ${assetId} with nonce ${nonce}; market book ${assetId} shows the book`);
          const tx = await session.chain.cancelNonce(nonce);
          // Cancelling signs no grant, so the desk's operator is only a placeholder here.
          await (await openDesk(session, session.chain.signer)).cancel(session.chain.account, nonce);
          return txLine(`cancelled order ${open.hash} (nonce ${nonce}): ${open.remaining} unit(s) off the book`, tx);
        });
        process.stdout.write(line);
      }),
    );
}

/** Approves the escrow for the bid's full cost, after the checks the desk will make that need no signature, so a refused bid changes no allowance. */
async function approveFor(session: MarketSession, request: OrderRequest, intent: BuyerIntent): Promise<void> {
  const { checkCompliance, checkPurchaseBudget } = await loadMarket();
  const asset = await session.storage.market.getAsset(request.assetId);
  if (!asset) throw new MarketCommandError('MARKET_ASSET_UNKNOWN', `asset ${request.assetId} is not in the catalogue; market search lists the listed assets`);
  checkCompliance(asset, intent);
  await checkPurchaseBudget(session.storage, asset, session.chain.account, request.units);
  await session.chain.approveEscrow(request.price * BigInt(request.units));
}
