import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarketOrderRecord, Storage } from '../src/core/index.js';
import { logIn, startDashboard, type Box, type DashboardHarness } from './support/dashboard.js';

const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');
const NXS = 10n ** 18n;
const OWNER = '0x00000000000000000000000000000000000000a1';
const BUYER = '0x00000000000000000000000000000000000000b2';

// The market page's geometry, read in the page (the project's tsconfig has no DOM library).
const LAYOUT = `(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }; };
  return {
    cards: [...document.querySelectorAll('#market .panel')].map((el) => ({ name: el.className, ...box(el), scrollWidth: el.scrollWidth, clientWidth: el.clientWidth })),
    tables: [...document.querySelectorAll('#market .table-fit')].map((el) => ({ scrollWidth: el.scrollWidth, clientWidth: el.clientWidth })),
    pageWidth: document.documentElement.scrollWidth,
  };
})()`;

// One asset with a book (an ask that expired and one that filled, neither of which may show),
// three settled fills and two ratings; a second asset that nobody sells yet.
async function seedMarket(storage: Storage, now: number): Promise<void> {
  const listing = {
    owner: OWNER,
    replaces: null,
    description: 'UCI optdigits 8x8, one partition',
    consent: ['research'],
    schema: { label: 'digit' },
    schemaHash: 'a'.repeat(64),
    contentHash: 'b'.repeat(64),
    budget: { epsilon: 8, delta: 1e-5 },
    unit: { rounds: 5, epsilon: 1.5 },
    listedAt: now * 1000,
    updatedAt: now * 1000,
  };
  const report = {
    version: 1,
    contentHash: 'b'.repeat(64),
    schemaHash: 'a'.repeat(64),
    rowCount: 1797,
    schemaValid: true,
    problems: [],
    columns: [{ name: 'pixel0', type: 'numeric', missing: 0, missingFraction: 0, distinct: 3, spread: { median: 0, mad: 0, scale: 'constant', outliers: 0 } }],
    labelBalance: { column: 'digit', labelled: 1797, classes: [{ label: '0', count: 900 }, { label: '1', count: 897 }], majorityClass: '0', majorityFraction: 0.5008, imbalanceRatio: 1.0033, normalisedEntropy: 1 },
    duplicateRows: 0,
    duplicateFraction: 0,
    baselineAccuracy: 0.5008,
  };
  await storage.market.upsertAsset({ ...listing, id: '7', title: 'Handwritten digits, clinic A', category: 'vision', task: 'classification', licence: 'CC-BY-4.0', regions: ['eu'], rows: 1797, quality: { report, owner: 'clinic-a', signedAt: new Date(now * 1000).toISOString(), signature: 'A'.repeat(86) } });
  await storage.market.upsertAsset({ ...listing, id: '12', title: 'Loan defaults with a long title that has to wrap inside its cell', category: 'finance', task: 'regression', licence: 'research-only', regions: ['us', 'ca', 'eu'], rows: 50_000, quality: null });
  let nonce = 0n;
  const order = (hash: string, side: 'bid' | 'ask', price: bigint, remaining: number, extra: Partial<MarketOrderRecord> = {}): MarketOrderRecord => ({
    hash, assetId: '7', side, price, units: Math.max(remaining, 1), remaining, expiry: now + 3600, nonce: ++nonce, maker: side === 'ask' ? OWNER : BUYER, signature: '0xsig', intent: null, status: 'open', createdAt: now - 600, updatedAt: now - 600, ...extra,
  });
  for (const o of [
    order('0xask-1', 'ask', (11n * NXS) / 2n, 3),
    order('0xask-2', 'ask', (11n * NXS) / 2n, 2),
    order('0xask-3', 'ask', 6n * NXS, 4),
    order('0xask-expired', 'ask', 5n * NXS, 9, { expiry: now - 60 }),
    order('0xask-filled', 'ask', 4n * NXS, 0, { status: 'filled' }),
    order('0xbid-filled', 'bid', 4n * NXS, 0, { status: 'filled' }),
    order('0xbid-1', 'bid', (9n * NXS) / 2n, 2),
    order('0xbid-2', 'bid', 4n * NXS, 1),
  ]) {
    await storage.market.insertOrder(o);
  }
  const prices = [4n * NXS, (17n * NXS) / 4n, 5n * NXS + 1n];
  for (const [i, price] of prices.entries()) {
    const at = now - 3000 + i * 1000;
    await storage.market.insertFill({ id: `f${i + 1}`, assetId: '7', bidHash: '0xbid-filled', askHash: '0xask-filled', buyer: BUYER, seller: OWNER, units: 1, price, status: i === 0 ? 'released' : 'settled', chainFillId: String(i + 1), txHash: `0x${String(i + 1).repeat(64)}`, createdAt: at, updatedAt: at });
  }
  await storage.market.insertRating({ assetId: '7', fillId: 'f1', rater: BUYER, score: 4, createdAt: now });
}

describe('market page of the operator dashboard in Chromium', () => {
  let dashboard: DashboardHarness;

  beforeAll(async () => {
    dashboard = await startDashboard({ prefix: 'cn-market-dashboard-', viewport: { width: 1400, height: 900 }, seed: (storage) => seedMarket(storage, Math.floor(Date.now() / 1000)) });
  });

  afterAll(async () => {
    await dashboard?.close();
  });

  it("logs a viewer in, opens the market and shows the catalogue, the asset's depth, fills and a price chart", async () => {
    const { page, origin, requests, pageErrors } = dashboard;
    await page.goto(origin);
    await logIn(page, dashboard.viewerToken);
    expect(await page.getByTestId('market').isHidden()).toBe(true);

    await page.getByTestId('view-market').click();
    await page.getByTestId('market').waitFor();
    expect(await page.locator('#app').isHidden()).toBe(true);
    expect(await page.getByTestId('view-market').getAttribute('aria-current')).toBe('page');

    // Cheapest best ask first; the asset nobody sells last.
    const rows = page.getByTestId('market-asset-row');
    await rows.nth(1).waitFor();
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-asset-id')))).toEqual(['7', '12']);
    expect(await page.locator('[data-testid="market-asset-row"][data-asset-id="7"] td').allTextContents()).toEqual(['#7', 'Handwritten digits, clinic A', 'vision', 'classification', 'CC-BY-4.0', 'eu', '1797', '5.5', '3', '4.0 (1)']);
    expect(await page.locator('[data-testid="market-asset-row"][data-asset-id="12"] td').nth(7).textContent()).toBe('—');

    await page.locator('[data-testid="market-asset-row"][data-asset-id="7"] button').click();
    await page.locator('#market-asset-heading', { hasText: 'Handwritten digits, clinic A' }).waitFor();
    await page.getByTestId('market-fill-row').nth(2).waitFor();
    expect(await page.getByTestId('market-quality').textContent()).toContain('Quality (signed by clinic-a): schema valid · 1797 rows');

    // Depth: open, unexpired orders summed per price, best first; the expired ask at 5 and the filled ones are absent.
    const levels = (side: string) => page.locator(`[data-testid="depth-level"][data-side="${side}"]`).evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)));
    expect(await levels('asks')).toEqual([
      ['5.5', '5', '2'],
      ['6', '4', '1'],
    ]);
    expect(await levels('bids')).toEqual([
      ['4.5', '2', '1'],
      ['4', '1', '1'],
    ]);
    expect(await page.getByTestId('market-spread').textContent()).toBe('best bid 4.5 · best ask 5.5 NXS · spread 1');

    // Fills newest first; a price a JS number cannot hold is shown rounded and given exactly on hover.
    const fills = page.getByTestId('market-fill-row');
    expect(await fills.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-fill-id')))).toEqual(['f3', 'f2', 'f1']);
    const newest = fills.first().locator('td').nth(2);
    expect([await newest.textContent(), await newest.getAttribute('title')]).toEqual(['≈5', '5000000000000000001 base units']);
    expect(await fills.nth(1).locator('td').nth(2).textContent()).toBe('4.25');

    // The chart: one point per fill, joined by one polyline, rising with the prices.
    expect(await page.getByTestId('price-point').count()).toBe(3);
    const points = (await page.getByTestId('price-line').getAttribute('points'))?.trim().split(/\s+/) ?? [];
    expect(points).toHaveLength(3);
    const ys = points.map((p) => Number(p.split(',')[1]));
    expect(ys[0]).toBeGreaterThan(ys[1]);
    expect(ys[1]).toBeGreaterThan(ys[2]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-market.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    expect(requests.filter((url) => !url.startsWith(origin))).toEqual([]);
  });

  for (const width of [1400, 1024]) {
    it(`lays the market cards out at ${width} px without one spilling over another`, async () => {
      const { page } = dashboard;
      await page.setViewportSize({ width, height: 900 });
      await page.getByTestId('price-point').nth(2).waitFor();
      const layout = await page.evaluate<{ cards: (Box & { name: string; scrollWidth: number; clientWidth: number })[]; tables: { scrollWidth: number; clientWidth: number }[]; pageWidth: number }>(LAYOUT);
      expect(layout.cards).toHaveLength(4);
      expect(layout.pageWidth).toBeLessThanOrEqual(width);
      for (const card of layout.cards) expect([card.name, card.scrollWidth <= card.clientWidth]).toEqual([card.name, true]);
      // The tables fit their cards too, rather than scrolling inside them.
      for (const table of layout.tables) expect(table.scrollWidth).toBeLessThanOrEqual(table.clientWidth);
      for (const [i, a] of layout.cards.entries()) {
        for (const b of layout.cards.slice(i + 1)) {
          const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
          expect([a.name, b.name, overlap]).toEqual([a.name, b.name, false]);
        }
      }
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-market-${width}.png`), fullPage: true });
    });
  }
});
