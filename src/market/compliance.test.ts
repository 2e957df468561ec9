import { describe, expect, it } from 'vitest';
import type { MarketAssetRecord } from '../core/index.js';
import { checkCompliance, parseBuyerIntent } from './compliance.js';

const asset = { id: '3', licence: 'CC-BY-NC-4.0', regions: ['eu', 'uk'], consent: ['research', 'commercial'] } as MarketAssetRecord;
const intent = (purpose: string, region: string) => ({ purpose, region, jobConfig: { rounds: 3 } });

describe('compliance of a bid with the asset terms', () => {
  it('passes a purpose the subjects consented to, in an allowed region, under the licence', () => {
    expect(() => checkCompliance(asset, intent('research', 'uk'))).not.toThrow();
    expect(() => checkCompliance({ ...asset, regions: ['global'] }, intent('research', 'jp'))).not.toThrow();
  });

  it('refuses another region, a purpose without consent, and a commercial use of an NC licence, naming the rule', () => {
    expect(() => checkCompliance(asset, intent('research', 'us'))).toThrow(expect.objectContaining({ code: 'MARKET_NONCOMPLIANT', details: expect.objectContaining({ rule: 'region' }) }));
    expect(() => checkCompliance(asset, intent('advertising', 'eu'))).toThrow(expect.objectContaining({ details: expect.objectContaining({ rule: 'consent' }) }));
    expect(() => checkCompliance(asset, intent('commercial', 'eu'))).toThrow(/licence CC-BY-NC-4.0 does not allow the purpose 'commercial'/);
    expect(() => checkCompliance({ ...asset, licence: 'CC-BY-4.0' }, intent('commercial', 'eu'))).not.toThrow();
  });

  it('parses an intent strictly', () => {
    expect(parseBuyerIntent(intent('research', 'eu'))).toEqual(intent('research', 'eu'));
    expect(() => parseBuyerIntent(intent('Research!', 'eu'))).toThrow(expect.objectContaining({ code: 'MARKET_INTENT_INVALID' }));
    expect(() => parseBuyerIntent({ ...intent('research', 'europe') })).toThrow(/region/);
    expect(() => parseBuyerIntent({ purpose: 'research', region: 'eu' })).toThrow(/jobConfig/);
  });
});
