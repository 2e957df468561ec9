import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { CipherNexusError, parseWithSchema } from '../core/index.js';
import { DEFAULT_SCRYPT_LOG2N, scryptKey } from '../privacy/he/index.js';

/**
 * The owner's registered copy of a listed data set, encrypted at rest: a key derived from the
 * owner's passphrase with scrypt (as the CKKS keys at rest are), AES-256-GCM with the asset id and
 * content hash as associated data, so a vault opens only as the asset it was made for and a copy
 * altered on disk is refused rather than trained on.
 *
 * File: "CNAV", a format byte, a big-endian u32 header length, the JSON header, the ciphertext.
 */

/** A vault that cannot be opened: `ASSET_VAULT_INVALID` (damaged or not a vault), `ASSET_VAULT_WRONG` (wrong passphrase or altered), `ASSET_VAULT_MISMATCH`. */
export class AssetVaultError extends CipherNexusError {}

const MAGIC = Buffer.from('CNAV');
const FORMAT = 1;
const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const HeaderSchema = z
  .object({
    assetId: z.string().regex(/^\d+$/),
    contentHash: z.string().regex(/^[0-9a-f]{64}$/),
    kdf: z.object({ name: z.literal('scrypt'), log2N: z.number().int().min(14).max(22), r: z.number().int().min(1).max(32), p: z.number().int().min(1).max(16), salt: b64 }).strict(),
    iv: b64,
    tag: b64,
  })
  .strict();

const associated = (assetId: string, contentHash: string): Buffer => Buffer.from(`cipher-nexus/market/asset-vault/v1\0${assetId}\0${contentHash}`);

/** Encrypts `data` (the asset's file bytes) under `passphrase` for asset `assetId`; returns the vault's bytes. */
export function sealAsset(data: Uint8Array, assetId: string, passphrase: string, options: { log2N?: number } = {}): Uint8Array {
  if (passphrase.length === 0) throw new AssetVaultError('ASSET_VAULT_INVALID', 'a passphrase is required to encrypt a data asset at rest');
  const contentHash = createHash('sha256').update(data).digest('hex');
  const log2N = options.log2N ?? DEFAULT_SCRYPT_LOG2N;
  const salt = randomBytes(16);
  const key = scryptKey(passphrase, salt, log2N, 8, 1);
  try {
    // A fresh key per vault (fresh salt), so one random 96-bit nonce per key is safe (NIST SP 800-38D §8.2.2).
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(associated(assetId, contentHash));
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
    const header = Buffer.from(
      JSON.stringify({ assetId, contentHash, kdf: { name: 'scrypt', log2N, r: 8, p: 1, salt: salt.toString('base64') }, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') }),
    );
    const length = Buffer.alloc(4);
    length.writeUInt32BE(header.length);
    return new Uint8Array(Buffer.concat([MAGIC, Buffer.from([FORMAT]), length, header, ciphertext]));
  } finally {
    key.fill(0);
  }
}

/** The asset a vault belongs to, read without the passphrase. */
export function vaultHeader(vault: Uint8Array): z.output<typeof HeaderSchema> & { bodyStart: number } {
  const bytes = Buffer.from(vault.buffer, vault.byteOffset, vault.byteLength);
  if (bytes.length < 9 || !bytes.subarray(0, 4).equals(MAGIC)) throw new AssetVaultError('ASSET_VAULT_INVALID', 'the file is not a Cipher Nexus asset vault (bad magic); list the asset again from its data file');
  if (bytes[4] !== FORMAT) throw new AssetVaultError('ASSET_VAULT_INVALID', `asset vault format ${bytes[4]} is not known to this Cipher Nexus (${FORMAT}); upgrade it`);
  const end = 9 + bytes.readUInt32BE(5);
  if (end > bytes.length) throw new AssetVaultError('ASSET_VAULT_INVALID', 'the asset vault is truncated; list the asset again from its data file');
  let json: unknown;
  try {
    json = JSON.parse(bytes.subarray(9, end).toString('utf8'));
  } catch {
    throw new AssetVaultError('ASSET_VAULT_INVALID', 'the asset vault header is not JSON; the file is damaged');
  }
  return { ...parseWithSchema(json, HeaderSchema, 'asset vault header', { code: 'ASSET_VAULT_INVALID' }), bodyStart: end };
}

/** Decrypts a vault for asset `assetId`; the caller zeroes the returned bytes when done. */
export function openAsset(vault: Uint8Array, assetId: string, passphrase: string): Uint8Array {
  const header = vaultHeader(vault);
  if (header.assetId !== assetId) throw new AssetVaultError('ASSET_VAULT_MISMATCH', `the vault holds asset ${header.assetId}, not asset ${assetId}; give the vault of asset ${assetId}`);
  const key = scryptKey(passphrase, Buffer.from(header.kdf.salt, 'base64'), header.kdf.log2N, header.kdf.r, header.kdf.p);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.iv, 'base64'));
    decipher.setAAD(associated(header.assetId, header.contentHash));
    decipher.setAuthTag(Buffer.from(header.tag, 'base64'));
    const first = decipher.update(vault.subarray(header.bodyStart));
    try {
      const data = Buffer.concat([first, decipher.final()]);
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } catch {
      first.fill(0);
      throw new AssetVaultError('ASSET_VAULT_WRONG', `wrong passphrase for the vault of asset ${assetId}, or the vault was altered; nothing was decrypted`);
    }
  } finally {
    key.fill(0);
  }
}
