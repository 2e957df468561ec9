import type { Command } from 'commander';
import type { Address } from 'viem';
import type { MarketAssetRecord, Storage } from '../core/index.js';
import type { ChainClient, MarketClient, PricePoint } from '../chain/index.js';
import type { BookDepth, QualityReport, WeightedRating } from '../market/index.js';
import { amountArg, fmt, jsonSafe } from './chain-command.js';
import { registerMarketFillCommands } from './market-fill-command.js';
import { registerMarketListCommand, qualityOf } from './market-list-command.js';
import { MarketCommandError, assetIdArg, marketAction, openDesk, positiveIntArg, withMarket, withStore, type MarketCommandContext } from './market-context.js';
import { registerMarketOrderCommands } from './market-order-command.js';
import { printJson } from './output.js';

const loadMarket = (): Promise<typeof import('../market/index.js')> => import('../market/index.js');

const DAY = 86_400;

/** The last fill's price of an asset and its time-weighted average over a window that ends now. */
export interface AssetPriceView {
  last: PricePoint;
  /** Base units per unit; null when the window is empty (the chain is younger than one block). */
  twap: bigint | null;
  /** The window actually averaged over, in unix seconds (shorter than asked when the market is younger). */
  from: bigint;
  to: bigint;
}

/**
 * The oracle read over the last `window` seconds: the cumulative price at the last block at or
 * before the window's start (found by bisection on block times, no earlier than the escrow's
 * deployment) and the contract's own average from there to now.
 */
export async function assetPriceView(chain: MarketClient, assetId: bigint, window: number): Promise<AssetPriceView> {
  const client = chain.conn.publicClient;
  const latest = await client.getBlock({ blockTag: 'latest' });
  const hasEscrow = async (blockNumber: bigint): Promise<boolean> => ((await client.getCode({ address: chain.deployment.escrow, blockNumber })) ?? '0x') !== '0x';
  let lo = chain.deployment.fromBlock;
  let hi = latest.number;
  // The first block with the escrow deployed: observing before it would read no contract.
  while (lo < hi) {
    const mid = (lo + hi) / 2n;
    if (await hasEscrow(mid)) hi = mid;
    else lo = mid + 1n;
  }
  const start = latest.timestamp - BigInt(window);
  hi = latest.number;
  while (lo < hi) {
    const mid = (lo + hi + 1n) / 2n;
    if ((await client.getBlock({ blockNumber: mid })).timestamp <= start) lo = mid;
    else hi = mid - 1n;
  }
  const [last, since] = await Promise.all([chain.assetPrice(assetId), chain.observeAsset(assetId, lo)]);
  const twap = since.timestamp < latest.timestamp ? await chain.assetTwapSince(assetId, since) : null;
  return { last, twap, from: since.timestamp, to: latest.timestamp };
}

const iso = (unixSeconds: bigint | number): string => new Date(Number(unixSeconds) * 1000).toISOString();
const percent = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`;

function priceLine(view: AssetPriceView): string {
  if (view.last.updatedAt === 0n) return 'no fills yet';
  const twap = view.twap === null ? 'no window yet' : `${fmt(view.twap)} over ${Number(view.to - view.from)}s`;
  return `last ${fmt(view.last.price)} at ${iso(view.last.updatedAt)}; time-weighted average ${twap}`;
}

/** The report inside a catalogued quality entry (signed or not) and who signed it. */
function storedQuality(quality: unknown): { report: QualityReport | undefined; signedBy: string | null } {
  const entry = (quality ?? {}) as { report?: QualityReport; owner?: string; signature?: string | null };
  return { report: entry.report, signedBy: typeof entry.signature === 'string' && entry.owner ? entry.owner : null };
}

/** The figures of a quality report a buyer looks at first. */
function qualitySummary(report: QualityReport) {
  const cells = report.columns.reduce((sum, c) => sum + c.missing, 0);
  const outliers = report.columns.reduce((sum, c) => sum + (c.spread?.outliers ?? 0), 0);
  return {
    rows: report.rowCount,
    schemaValid: report.schemaValid,
    missingFraction: report.rowCount === 0 || report.columns.length === 0 ? 0 : cells / (report.rowCount * report.columns.length),
    duplicateFraction: report.duplicateFraction,
    outliers,
    classes: report.labelBalance?.classes.length ?? 0,
    majorityClass: report.labelBalance?.majorityClass ?? null,
    baselineAccuracy: report.baselineAccuracy ?? null,
    imbalanceRatio: report.labelBalance?.imbalanceRatio ?? null,
  };
}

function qualityLine(report: QualityReport): string {
  const s = qualitySummary(report);
  const label = s.majorityClass === null ? 'no labels' : `${s.classes} classes, majority '${s.majorityClass}' (baseline accuracy ${percent(s.baselineAccuracy ?? 0)}), imbalance ${s.imbalanceRatio?.toFixed(2)}`;
  return `${s.rows} rows, schema ${s.schemaValid ? 'valid' : `INVALID (${report.problems.length} problem(s))`}, ${percent(s.missingFraction)} cells missing, ${percent(s.duplicateFraction)} duplicate rows, ${s.outliers} outlier cell(s); ${label}`;
}

/** The reputation-weighted rating of an asset: each rater's on-chain reputation is its weight. */
async function ratingOf(storage: Storage, client: ChainClient, assetId: string): Promise<WeightedRating> {
  const { weightedRating } = await loadMarket();
  const ratings = await storage.market.listRatings(assetId);
  const raters = [...new Set(ratings.map((r) => r.rater))] as Address[];
  const reputations = raters.length === 0 ? [] : await client.reputationsOf(raters);
  const weight = new Map(raters.map((r, i) => [r.toLowerCase(), reputations[i]]));
  return weightedRating(
    ratings.map((r) => ({ assetId: r.assetId, fillId: r.fillId, rater: r.rater, score: r.score })),
    (rater) => weight.get(rater.toLowerCase()) ?? 0n,
  );
}

async function catalogued(storage: Storage, id: string): Promise<MarketAssetRecord> {
  const asset = await storage.market.getAsset(id);
  if (!asset) throw new MarketCommandError('MARKET_ASSET_UNKNOWN', `asset ${id} is not in the catalogue; market search lists the listed assets`);
  return asset;
}

function depthLines(assetId: string, depth: BookDepth): string {
  const level = (side: string, l: { price: bigint; units: bigint; orders: number }) => `  ${side}  ${fmt(l.price).padStart(16)}  ${String(l.units).padStart(6)} unit(s)  ${l.orders} order(s)\n`;
  if (depth.asks.length === 0 && depth.bids.length === 0) return `asset ${assetId}: the book is empty\n`;
  return `asset ${assetId}\n${[...depth.asks].reverse().map((l) => level('ask', l)).join('')}  ---\n${depth.bids.map((l) => level('bid', l)).join('')}`;
}

/**
 * Adds `market list|search|show|quality|order|cancel|book|fills|price|grant|release|rate|dispute`, the data
 * marketplace, to the program; `context` gives the chain client of the acting account and the store.
 */
export function registerMarketCommands(program: Command, context: MarketCommandContext): void {
  const market = program
    .command('market')
    .description('the data marketplace: list data sets, buy training jobs on them (compute-to-data: rows never leave their owner), settle on chain');
  registerMarketListCommand(market, context);

  market
    .command('search')
    .description('search the catalogue: cheapest best ask first')
    .argument('[text]', 'words in the title, description or category')
    .option('--category <label>', 'only this category')
    .option('--task <task>', 'only this task')
    .option('--max-price <nxs>', 'only assets with an open ask at or below this price per unit')
    .option('--json', 'print JSON')
    .action(
      marketAction(async (text: string | undefined, opts: { category?: string; task?: string; maxPrice?: string; json?: boolean }) => {
        const maxPrice = opts.maxPrice === undefined ? undefined : amountArg('--max-price', opts.maxPrice);
        const hits = await withStore(context, (storage) => storage.market.searchAssets({ text, category: opts.category, task: opts.task, maxPrice, now: Math.floor(Date.now() / 1000) }));
        if (opts.json) return printJson(jsonSafe(hits.map(({ asset, bestAsk }) => ({ id: asset.id, title: asset.title, category: asset.category, task: asset.task, rows: asset.rows, owner: asset.owner, bestAsk }))));
        if (hits.length === 0) return void process.stdout.write('no asset matches\n');
        for (const { asset, bestAsk } of hits) {
          process.stdout.write(`${asset.id.padStart(4)}  ${asset.title}  [${asset.category}, ${asset.task}]  ${asset.rows} rows  ${bestAsk === null ? 'no ask' : `ask ${fmt(bestAsk)}`}\n`);
        }
      }),
    );

  market
    .command('show')
    .description("an asset: its terms, quality summary, reputation-weighted rating, best prices on the book, and the oracle's last price and daily time-weighted average")
    .argument('<id>', 'the asset (its token id)')
    .option('--json', 'print JSON')
    .action(
      marketAction(async (id: string, opts: { json?: boolean }) => {
        const assetId = assetIdArg(id);
        const view = await withMarket(context, async (session) => {
          const asset = await catalogued(session.storage, assetId);
          const depth = await (await openDesk(session, session.chain.signer)).depth(assetId, 1);
          return { asset, depth, rating: await ratingOf(session.storage, session.client, assetId), price: await assetPriceView(session.chain, BigInt(assetId), DAY) };
        });
        const { asset, depth, rating, price } = view;
        const { report, signedBy } = storedQuality(asset.quality);
        const bestAsk = depth.asks[0] ?? null;
        const bestBid = depth.bids[0] ?? null;
        if (opts.json) {
          const { schema: _schema, quality: _quality, ...terms } = asset;
          return printJson(
            jsonSafe({ asset: terms, quality: report ? { ...qualitySummary(report), signedBy } : null, rating, bestAsk, bestBid, price: { last: price.last.price, updatedAt: price.last.updatedAt, twap: price.twap, from: price.from, to: price.to } }),
          );
        }
        const ratingText = rating.count === 0 ? 'no ratings yet' : rating.mean === undefined ? `${rating.count} rating(s), none from a rater with reputation` : `${rating.mean.toFixed(2)}/5 from ${rating.count} rating(s), weighted by reputation`;
        const book = (l: { price: bigint; units: bigint } | null) => (l ? `${fmt(l.price)} (${l.units} unit(s))` : 'none');
        process.stdout.write(
          `asset ${asset.id}: '${asset.title}' [${asset.category}, ${asset.task}] owned by ${asset.owner}\n` +
            `  licence ${asset.licence}; regions ${asset.regions.join(', ')}; consent ${asset.consent.join(', ')}\n` +
            `  one unit: a job of at most ${asset.unit.rounds} rounds spending epsilon ${asset.unit.epsilon}; each buyer's budget epsilon ${asset.budget.epsilon} (delta ${asset.budget.delta})\n` +
            `  quality: ${report ? `${qualityLine(report)}; ${signedBy ? `signed by ${signedBy}` : 'unsigned'}` : 'no report'}\n` +
            `  rating: ${ratingText}\n` +
            `  book: best ask ${book(bestAsk)}, best bid ${book(bestBid)}\n` +
            `  price: ${priceLine(price)}\n`,
        );
      }),
    );

  market
    .command('quality')
    .description('compute the quality report of a data set on this node without listing it: schema validity, missing values, label balance, duplicates, outliers, baseline')
    .argument('<file>', 'the data set (delimited text)')
    .requiredOption('--schema <file>', 'its declared schema, JSON or YAML')
    .option('--json', 'print the full report as JSON')
    .action(
      marketAction(async (file: string, opts: { schema: string; json?: boolean }) => {
        const { report } = await qualityOf(file, opts.schema);
        if (opts.json) return printJson(report);
        process.stdout.write(`${file}: ${qualityLine(report)}\n  content sha256 ${report.contentHash}\n  schema sha256 ${report.schemaHash}\n`);
        for (const p of report.problems) process.stdout.write(`  problem [${p.code}]: ${p.message}\n`);
      }),
    );

  registerMarketOrderCommands(market, context);

  market
    .command('book')
    .description("an asset's order book: open, unexpired orders by price level")
    .argument('<id>', 'the asset')
    .option('--levels <n>', 'price levels per side', '10')
    .option('--json', 'print JSON')
    .action(
      marketAction(async (id: string, opts: { levels: string; json?: boolean }) => {
        const assetId = assetIdArg(id);
        const levels = positiveIntArg('--levels', opts.levels);
        const depth = await withMarket(context, async (session) => {
          await catalogued(session.storage, assetId);
          return (await openDesk(session, session.chain.signer)).depth(assetId, levels);
        });
        if (opts.json) return printJson(jsonSafe(depth));
        process.stdout.write(depthLines(assetId, depth));
      }),
    );

  market
    .command('fills')
    .description('settled and failed fills, oldest first')
    .argument('[id]', 'only this asset')
    .option('--json', 'print JSON')
    .action(
      marketAction(async (id: string | undefined, opts: { json?: boolean }) => {
        const assetId = id === undefined ? undefined : assetIdArg(id);
        const fills = await withStore(context, (storage) => storage.market.listFills(assetId === undefined ? undefined : { assetId }));
        if (opts.json) return printJson(jsonSafe(fills));
        if (fills.length === 0) return void process.stdout.write('no fills yet\n');
        for (const f of fills) process.stdout.write(`${f.id}  asset ${f.assetId}  ${f.units} unit(s) at ${fmt(f.price)}  ${f.status}  buyer ${f.buyer}  seller ${f.seller}\n`);
      }),
    );

  market
    .command('price')
    .description("the oracle's price of an asset: the last fill's price and the time-weighted average over a window, as contracts read it")
    .argument('<id>', 'the asset')
    .option('--window <seconds>', 'the averaging window, ending now', String(DAY))
    .option('--json', 'print JSON')
    .action(
      marketAction(async (id: string, opts: { window: string; json?: boolean }) => {
        const assetId = assetIdArg(id);
        const window = positiveIntArg('--window', opts.window);
        const view = await withMarket(context, (session) => assetPriceView(session.chain, BigInt(assetId), window));
        if (opts.json) return printJson(jsonSafe({ assetId, last: view.last.price, updatedAt: view.last.updatedAt, twap: view.twap, from: view.from, to: view.to }));
        process.stdout.write(`asset ${assetId}: ${priceLine(view)}\n`);
      }),
    );

  registerMarketFillCommands(market, context);
}
