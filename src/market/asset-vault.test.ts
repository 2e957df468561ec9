import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openAsset, sealAsset, vaultHeader } from './asset-vault.js';

// The lowest work factor the format accepts keeps the test fast; the default is 2^17.
const FAST = { log2N: 14 };
const data = new Uint8Array(readFileSync(new URL('../../data/optdigits/optdigits.tes', import.meta.url)));

describe('asset vault', () => {
  it('opens to the same bytes and hides them: no line of the data appears in the vault', () => {
    const vault = sealAsset(data, '7', 'correct horse', FAST);
    expect(Buffer.from(openAsset(vault, '7', 'correct horse')).equals(Buffer.from(data))).toBe(true);
    const firstLine = Buffer.from(data).toString('utf8').split('\n')[0];
    expect(Buffer.from(vault).includes(Buffer.from(firstLine))).toBe(false);
    expect(vaultHeader(vault)).toMatchObject({ assetId: '7', contentHash: createHash('sha256').update(data).digest('hex') });
  });

  it('refuses a wrong passphrase, another asset id, an altered body or header, and a file that is no vault', () => {
    const vault = sealAsset(data, '7', 'correct horse', FAST);
    expect(() => openAsset(vault, '7', 'battery staple')).toThrow(expect.objectContaining({ code: 'ASSET_VAULT_WRONG' }));
    expect(() => openAsset(vault, '8', 'correct horse')).toThrow(expect.objectContaining({ code: 'ASSET_VAULT_MISMATCH' }));
    const flipped = vault.slice();
    flipped[flipped.length - 10] ^= 1;
    expect(() => openAsset(flipped, '7', 'correct horse')).toThrow(expect.objectContaining({ code: 'ASSET_VAULT_WRONG' }));
    // Claiming another content hash in the header changes the associated data: refused, not decrypted.
    const header = vaultHeader(vault);
    const relabelled = Buffer.from(Buffer.from(vault).toString('latin1').replace(header.contentHash, 'f'.repeat(64)), 'latin1');
    expect(() => openAsset(relabelled, '7', 'correct horse')).toThrow(expect.objectContaining({ code: 'ASSET_VAULT_WRONG' }));
    expect(() => openAsset(data, '7', 'correct horse')).toThrow(expect.objectContaining({ code: 'ASSET_VAULT_INVALID' }));
    expect(() => openAsset(vault.subarray(0, 20), '7', 'correct horse')).toThrow(expect.objectContaining({ code: 'ASSET_VAULT_INVALID' }));
    expect(() => sealAsset(data, '7', '')).toThrow(expect.objectContaining({ code: 'ASSET_VAULT_INVALID' }));
  });

  it('encrypts the same data differently each time (fresh salt and nonce)', () => {
    const a = sealAsset(data, '7', 'pw', FAST);
    const b = sealAsset(data, '7', 'pw', FAST);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });
});
