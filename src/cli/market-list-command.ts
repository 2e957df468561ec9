import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { StateError, loadConfigFile, type MarketAssetRecord } from '../core/index.js';
import type { AssetListing, DataAssetInfo } from '../chain/index.js';
// The flag names alone, for the help text: the market's index would load viem to print it.
import { CONSENT_PURPOSES, REGIONS } from '../market/asset-flags.js';
import type { DataSchema, Placement, QualityReport } from '../market/index.js';
import { amountArg, jsonSafe } from './chain-command.js';
import {
  MarketCommandError,
  expiryArg,
  listArg,
  marketAction,
  openDesk,
  operatorAccount,
  positiveIntArg,
  positiveNumberArg,
  withMarket,
  type MarketCommandContext,
  type MarketSession,
} from './market-context.js';
import { placeOrder, placementLines, settlementsHeld, type OrderRequest } from './market-order-command.js';
import { printJson } from './output.js';

const loadMarket = (): Promise<typeof import('../market/index.js')> => import('../market/index.js');

/** Reads a data schema file (JSON or YAML); `DATA_SCHEMA_INVALID` names the first fault. */
export async function readSchemaFile(path: string): Promise<DataSchema> {
  const { parseDataSchema } = await loadMarket();
  return parseDataSchema(loadConfigFile(path, z.unknown()), path);
}

/** Computes the quality report of a CSV file on this node against its schema file. */
export async function qualityOf(csv: string, schemaFile: string): Promise<{ schema: DataSchema; report: QualityReport }> {
  const schema = await readSchemaFile(schemaFile);
  const { qualityReportFromCsv } = await loadMarket();
  return { schema, report: await qualityReportFromCsv(csv, schema) };
}

interface ListOptions {
  csv: string;
  schema: string;
  title: string;
  description: string;
  category: string;
  task: string;
  licence: string;
  region: string;
  consent: string;
  budgetEpsilon: string;
  budgetDelta: string;
  unitRounds: string;
  unitEpsilon: string;
  price?: string;
  units?: string;
  expiry: string;
  kit?: string;
  vault?: string;
  passphraseEnv?: string;
  operatorKey?: string;
  json?: boolean;
}

/** Adds `market list` to the `market` command. */
export function registerMarketListCommand(market: Command, context: MarketCommandContext): void {
  market
    .command('list')
    .description(
      'owner: assess a data set on this node, mint its DataAsset token (hashes, rows, licence, consent and region bits, budget), ' +
        'catalogue it with its quality report, and optionally encrypt the copy at rest and offer access; prints the asset id. No row leaves this node.',
    )
    .requiredOption('--csv <file>', 'the data set (delimited text) on this node')
    .requiredOption('--schema <file>', 'its declared schema, JSON or YAML: {columns: [{name, type}], label, missingMarkers?}')
    .requiredOption('--title <text>', 'what buyers see in search')
    .option('--description <text>', 'a longer description', '')
    .requiredOption('--category <label>', 'e.g. vision (at most 32 bytes; the price oracle also averages by category)')
    .requiredOption('--task <task>', 'what a buyer can train on it, e.g. classification')
    .requiredOption('--licence <id>', 'SPDX licence id, e.g. CC-BY-4.0; a licence with NC refuses commercial purposes')
    .requiredOption('--region <list>', `comma-separated regions where buyers may use it; token bits in this order: ${REGIONS.join(', ')}`)
    .requiredOption('--consent <list>', `comma-separated purposes the data subjects consented to; token bits in this order: ${CONSENT_PURPOSES.join(', ')}`)
    .requiredOption('--budget-epsilon <e>', 'the privacy budget each buyer may spend on the set over its lifetime')
    .option('--budget-delta <d>', 'its delta', '1e-5')
    .requiredOption('--unit-rounds <n>', 'one access unit is a training job of at most N rounds')
    .requiredOption('--unit-epsilon <e>', '... that spends at most epsilon E (at most the budget)')
    .option('--price <nxs>', 'offer access at once: an ask at this price per unit (with --units)')
    .option('--units <n>', 'access units the ask offers')
    .option('--expiry <when>', "the ask's expiry: a duration (1h, 30d) or an ISO time", '30d')
    .option('--kit <file>', 'your participant kit: its signing key signs the quality report; without it the report is catalogued unsigned, marked so')
    .option('--vault <file>', 'also write the data set encrypted at rest (AES-256-GCM, key from the passphrase by scrypt) to this file')
    .option('--passphrase-env <var>', "the environment variable holding the vault's passphrase")
    .addOption(new Option('--operator-key <hex>', 'with --price: key of the market operator who signs grants; on a development chain dev account 0 by default').env('CIPHER_NEXUS_OPERATOR_KEY'))
    .option('--json', 'print JSON')
    .action(marketAction((opts: ListOptions) => list(context, opts)));
}

async function list(context: MarketCommandContext, opts: ListOptions): Promise<void> {
  // Every input is checked, and the report computed and signed, before anything is minted.
  const market = await loadMarket();
  const regions = listArg(opts.region);
  const consent = listArg(opts.consent);
  const flags = { consentFlags: market.consentFlags(consent), regionFlags: market.regionFlags(regions) };
  const budget = { epsilon: positiveNumberArg('--budget-epsilon', opts.budgetEpsilon), delta: positiveNumberArg('--budget-delta', opts.budgetDelta, 1) };
  const unit = { rounds: positiveIntArg('--unit-rounds', opts.unitRounds), epsilon: positiveNumberArg('--unit-epsilon', opts.unitEpsilon) };
  const epsilonMilli = Math.round(budget.epsilon * 1000);
  if (epsilonMilli < 1 || epsilonMilli > 0xffff_ffff) throw new MarketCommandError('CLI_BAD_NUMBER', `--budget-epsilon must be from 0.001 to ${0xffff_ffff / 1000}, got '${opts.budgetEpsilon}'`);
  if (unit.epsilon > budget.epsilon) throw new MarketCommandError('MARKET_UNIT_OVER_BUDGET', `one unit's epsilon ${unit.epsilon} exceeds the per-buyer budget ${budget.epsilon}: no purchase could pass; lower --unit-epsilon or raise --budget-epsilon`);
  if ((opts.price === undefined) !== (opts.units === undefined)) throw new MarketCommandError('CLI_LIST_USAGE', 'give --price and --units together to offer access, or neither');
  const ask = opts.price === undefined ? undefined : { price: amountArg('--price', opts.price), units: positiveIntArg('--units', opts.units as string), expiry: expiryArg(opts.expiry, Math.floor(Date.now() / 1000)) };
  if ((opts.vault === undefined) !== (opts.passphraseEnv === undefined)) throw new MarketCommandError('CLI_LIST_USAGE', 'give --vault and --passphrase-env together to encrypt the copy at rest, or neither');
  const passphrase = opts.passphraseEnv === undefined ? undefined : process.env[opts.passphraseEnv];
  if (opts.passphraseEnv !== undefined && !passphrase) throw new MarketCommandError('MARKET_NO_PASSPHRASE', `the environment variable ${opts.passphraseEnv} named by --passphrase-env is empty or unset`);
  const { label32 } = await import('../chain/index.js');
  label32(opts.category);
  label32(opts.licence);

  const { schema, report } = await qualityOf(opts.csv, opts.schema);
  if (report.rowCount === 0 || !report.schemaValid) {
    const problem = report.problems[0];
    throw new MarketCommandError('MARKET_DATA_INVALID', `${opts.csv} does not match its schema: ${problem ? problem.message : 'it has no rows'}; fix the data or the schema (market quality shows the report)`);
  }
  let quality: unknown = { report, signature: null, note: 'unsigned: listed without --kit, so the figures are the word of the owner only' };
  if (opts.kit !== undefined) {
    const { loadParticipantKit, signerFromKit } = await import('../identity/index.js');
    quality = market.signQualityReport(report, signerFromKit(loadParticipantKit(opts.kit)));
  }

  const listing: AssetListing = {
    contentHash: `0x${report.contentHash}`,
    schemaHash: `0x${report.schemaHash}`,
    licence: opts.licence,
    category: opts.category,
    rows: BigInt(report.rowCount),
    epsilonMilli,
    ...flags,
  };
  // The encrypted copy goes to a file beside the vault, renamed over it only once the asset is
  // catalogued: an unwritable place is refused before anything is minted, and a failure leaves no vault.
  const vaultDraft = opts.vault === undefined ? undefined : draftFile(opts.vault);
  try {
    const out = await withMarket(context, async (session) => {
      const operator = ask ? await operatorAccount(opts.operatorKey, session.chain.conn.chain.id) : undefined;
      const adopted = await uncatalogued(session, listing);
      const minted = adopted ? { id: adopted.id, hash: null } : await session.chain.listAsset(listing);
      const id = minted.id.toString();
      const now = Math.floor(Date.now() / 1000);
      const asset: MarketAssetRecord = {
        id,
        owner: session.chain.account,
        replaces: null,
        title: opts.title,
        description: opts.description,
        category: opts.category,
        task: opts.task,
        licence: opts.licence,
        regions,
        consent,
        schema,
        schemaHash: report.schemaHash,
        contentHash: report.contentHash,
        rows: report.rowCount,
        budget,
        unit,
        quality,
        listedAt: now,
        updatedAt: now,
      };
      try {
        if (vaultDraft !== undefined) {
          const data = readFileSync(opts.csv);
          writeFileSync(vaultDraft, market.sealAsset(data, id, passphrase as string));
          data.fill(0);
        }
        // Cataloguing signs nothing, so without an ask the desk's operator is only a placeholder.
        await (await openDesk(session, operator ?? session.chain.signer)).catalogue(asset);
      } catch (error) {
        // The token cannot be taken back; the same command run again adopts it instead of minting another.
        throw new StateError('CLI_LIST_INCOMPLETE', `asset ${id} was minted on chain but not catalogued (${(error as Error).message}); run the same market list again to catalogue it`);
      }
      if (vaultDraft !== undefined) renameSync(vaultDraft, opts.vault as string);
      const request: OrderRequest | undefined = ask && { assetId: id, side: 'ask', ...ask };
      let placement: Placement | undefined;
      try {
        placement = request ? await placeOrder(session, opts.operatorKey, request) : undefined;
      } catch (error) {
        throw new StateError('CLI_ASK_NOT_PLACED', `asset ${id} is listed and catalogued, but its ask was not placed (${(error as Error).message}); offer it with market order --asset ${id} --side ask`);
      }
      return { id, tx: minted.hash, placement };
    });
    if (opts.json) {
      printJson({ assetId: out.id, tx: out.tx, contentHash: report.contentHash, schemaHash: report.schemaHash, rows: report.rowCount, qualitySigned: opts.kit !== undefined, vault: opts.vault ?? null, ask: out.placement ? jsonSafe({ ...out.placement.order, intent: undefined }) : null });
    } else {
      printListing(opts, report.rowCount, out);
    }
    if (out.placement) settlementsHeld(out.placement);
  } finally {
    if (vaultDraft !== undefined) rmSync(vaultDraft, { force: true });
  }
}

/**
 * A token this owner minted for exactly this listing that no catalogue entry names (a listing whose
 * cataloguing failed after the mint), still its own and not a version of another: adopted rather
 * than minted again.
 */
async function uncatalogued({ chain, storage }: MarketSession, listing: AssetListing): Promise<DataAssetInfo | undefined> {
  for (const token of await chain.listedBy(chain.account, listing.contentHash)) {
    const same =
      token.owner.toLowerCase() === chain.account.toLowerCase() &&
      token.replaces === 0n &&
      token.schemaHash.toLowerCase() === listing.schemaHash.toLowerCase() &&
      token.licence === listing.licence &&
      token.category === listing.category &&
      token.rows === listing.rows &&
      token.consentFlags === listing.consentFlags &&
      token.regionFlags === listing.regionFlags &&
      token.epsilonMilli === listing.epsilonMilli;
    if (same && !(await storage.market.getAsset(token.id.toString()))) return token;
  }
  return undefined;
}

/** A new file beside `path` for its draft, created now (owner-only) so that an unwritable place is refused before anything else. */
function draftFile(path: string): string {
  const draft = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.draft`);
  try {
    closeSync(openSync(draft, 'wx', 0o600));
  } catch (error) {
    throw new MarketCommandError('CLI_VAULT_UNWRITABLE', `cannot write the vault '${path}' (${(error as NodeJS.ErrnoException).code ?? 'error'}); give a file in a folder you can write to`);
  }
  return draft;
}

function printListing(opts: ListOptions, rows: number, out: { id: string; tx: string | null; placement?: Placement }): void {
  const signed = opts.kit === undefined ? 'quality report unsigned (no --kit)' : 'quality report signed';
  const token = out.tx === null ? 'its token, minted by an earlier run that did not catalogue it, adopted' : `tx ${out.tx}`;
  process.stdout.write(`listed asset ${out.id}: '${opts.title}', ${rows} rows, ${signed} (${token})\n`);
  if (opts.vault !== undefined) process.stdout.write(`encrypted copy at rest: ${opts.vault}\n`);
  if (out.placement) process.stdout.write(placementLines(out.placement));
  else process.stdout.write(`offer access with: cipher-nexus market order --asset ${out.id} --side ask --price NXS --units N\n`);
}
