import { keccak256, toBytes, zeroHash, type Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { MarketClient, label32, labelText, type AssetListing } from './market.js';

let n: EmbeddedNexus;
let clean: Hex;
let owner: MarketClient;
let other: MarketClient;

beforeAll(async () => {
  n = await startEmbeddedNexus({ accounts: 3 });
  [owner, other] = n.conn.accounts.slice(1).map((a) => new MarketClient(n.conn, n.deployment, a));
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});

const listing = (content: string, extra: Partial<AssetListing> = {}): AssetListing => ({
  contentHash: keccak256(toBytes(content)),
  schemaHash: keccak256(toBytes('optdigits: 64 pixels, label 0-9')),
  licence: 'CC-BY-4.0',
  category: 'tabular/digits',
  rows: 1_912n,
  consentFlags: 0b101,
  regionFlags: 0b11,
  epsilonMilli: 8_000,
  ...extra,
});

describe('DataAsset', () => {
  it('mints a token per listing to the lister and returns every field as listed', async () => {
    const first = await owner.listAsset(listing('partition 0'));
    const second = await other.listAsset(listing('partition 1', { rows: 1_911n, regionFlags: 0b100 }));
    expect([first.id, second.id]).toEqual([1n, 2n]);
    const asset = await owner.getAsset(first.id);
    expect(asset).toEqual({ id: 1n, owner: owner.account, replaces: 0n, replacedBy: 0n, ...listing('partition 0') });
    expect(await owner.getAsset(second.id)).toMatchObject({ owner: other.account, rows: 1_911n, regionFlags: 0b100 });
    // Found again by lister and content: the same content listed twice by one owner, and not another's.
    const third = await owner.listAsset(listing('partition 0', { rows: 5n }));
    await other.listAsset(listing('partition 0'));
    expect((await owner.listedBy(owner.account, listing('partition 0').contentHash)).map((a) => [a.id, a.rows])).toEqual([
      [first.id, 1_912n],
      [third.id, 5n],
    ]);
    expect(await owner.listedBy(owner.account, keccak256(toBytes('never listed')))).toEqual([]);
  });

  it('refuses an empty listing and reading an asset that was never listed', async () => {
    await expect(owner.listAsset(listing('x', { contentHash: zeroHash }))).rejects.toMatchObject({ errorName: 'EmptyListing' });
    await expect(owner.listAsset(listing('x', { rows: 0n }))).rejects.toMatchObject({ errorName: 'EmptyListing' });
    await expect(owner.getAsset(9n)).rejects.toMatchObject({ errorName: 'ERC721NonexistentToken', args: [9n] });
    expect(() => label32('a licence label that is far longer than thirty-two bytes')).toThrow(/at most 32/);
  });

  it('lets only the owner list a new version, once per token, linking both ways', async () => {
    const { id } = await owner.listAsset(listing('v1'));
    await expect(other.listVersion(id, listing('v2'))).rejects.toMatchObject({ errorName: 'NotAssetOwner', args: [id, other.account, owner.account] });
    const v2 = await owner.listVersion(id, listing('v2', { rows: 2_000n }));
    expect(await owner.getAsset(v2.id)).toMatchObject({ replaces: id, replacedBy: 0n, rows: 2_000n, owner: owner.account });
    expect((await owner.getAsset(id)).replacedBy).toBe(v2.id);
    await expect(owner.listVersion(id, listing('v2 again'))).rejects.toMatchObject({ errorName: 'AlreadyReplaced', args: [id, v2.id] });
    await expect(owner.listVersion(77n, listing('orphan'))).rejects.toMatchObject({ errorName: 'ERC721NonexistentToken' });
  });

  it('moves ownership and the right to version with a transfer', async () => {
    const { id } = await owner.listAsset(listing('sold'));
    await owner.transferAsset(other.account, id);
    expect((await other.getAsset(id)).owner).toBe(other.account);
    await expect(owner.listVersion(id, listing('sold v2'))).rejects.toMatchObject({ errorName: 'NotAssetOwner' });
    expect((await other.listVersion(id, listing('sold v2'))).id).toBe(id + 1n);
  });

  it('round-trips labels, and shows a binary label as hex', () => {
    expect(labelText(label32('tabular/digits'))).toBe('tabular/digits');
    const hash = keccak256(toBytes('a long licence text'));
    expect(label32(hash)).toBe(hash);
    expect(labelText(hash)).toBe(hash);
    expect(labelText(zeroHash)).toBe('');
  });
});
