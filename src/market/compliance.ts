import { z } from 'zod';
import { CipherNexusError, parseWithSchema, type MarketAssetRecord } from '../core/index.js';

/**
 * What a buyer states with a bid: the purpose and region the trained model serves, and the job it
 * will run. Checked against the asset's licence, consent and regions before the bid enters the
 * book, so that a sale the owner did not consent to never happens.
 */
export interface BuyerIntent {
  purpose: string;
  region: string;
  /** The job configuration the grant will name (its canonical hash). */
  jobConfig: unknown;
}

/** A bid that does not comply with the asset's terms (`MARKET_NONCOMPLIANT`), naming the rule. */
export class ComplianceError extends CipherNexusError {}

const IntentSchema = z
  .object({
    purpose: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'a lower-case word such as research or commercial'),
    region: z.string().regex(/^[a-z]{2}(-[a-z0-9]{1,8})?$/, 'a lower-case region code such as eu, us or uk'),
    jobConfig: z.record(z.unknown()),
  })
  .strict();

/** Parses an untrusted buyer intent; `MARKET_INTENT_INVALID` names the bad field. */
export function parseBuyerIntent(input: unknown): BuyerIntent {
  return parseWithSchema(input, IntentSchema, 'buyer intent', { code: 'MARKET_INTENT_INVALID' });
}

/** Regions that cover every region. */
const EVERYWHERE = 'global';
/** Purposes a non-commercial licence (its SPDX id names NC) does not allow. */
const COMMERCIAL = new Set(['commercial', 'advertising', 'resale']);

/** Refuses `intent` on `asset` when the region, the consent or the licence does not allow it. */
export function checkCompliance(asset: MarketAssetRecord, intent: BuyerIntent): void {
  const refuse = (rule: string, message: string): never => {
    throw new ComplianceError('MARKET_NONCOMPLIANT', `asset ${asset.id}: ${message}`, { assetId: asset.id, rule });
  };
  if (!asset.regions.includes(EVERYWHERE) && !asset.regions.includes(intent.region)) {
    refuse('region', `the owner allows use in ${asset.regions.join(', ')}, not in '${intent.region}'`);
  }
  if (!asset.consent.includes(intent.purpose)) {
    refuse('consent', `the data subjects consented to ${asset.consent.join(', ')}, not to '${intent.purpose}'`);
  }
  if (/(^|-)NC(-|$)/.test(asset.licence) && COMMERCIAL.has(intent.purpose)) {
    refuse('licence', `its licence ${asset.licence} does not allow the purpose '${intent.purpose}'`);
  }
}
