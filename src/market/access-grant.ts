import { createHash } from 'node:crypto';
import { getAddress, isAddress, recoverTypedDataAddress, type Hex, type LocalAccount, type TypedDataDomain } from 'viem';
import { z } from 'zod';
import { CipherNexusError, canonicalJson, parseWithSchema } from '../core/index.js';

/**
 * An access grant: what a settled fill gives its buyer — so many training jobs of one job
 * configuration on one data asset, until an expiry. The market's operator signs it as an EIP-712
 * message under the escrow's domain, so the owner's agent checks it with the operator's address
 * alone, and a grant for one deployment (chain, escrow) is worthless on another.
 */
export interface AccessGrant {
  /** The escrow's id of the settled fill the grant comes from. */
  fillId: bigint;
  assetId: bigint;
  buyer: `0x${string}`;
  /** sha256 of the canonical JSON of the job configuration the grant admits, 0x-hex. */
  jobConfigHash: Hex;
  /** Training jobs the grant admits. */
  units: number;
  /** Unix seconds. */
  expiry: number;
}

/** A grant and the operator's signature over it. */
export interface SignedAccessGrant {
  grant: AccessGrant;
  signature: Hex;
}

/** Why a grant was refused: `GRANT_INVALID`, `GRANT_SIGNATURE_INVALID`, `GRANT_EXPIRED` and the gate's codes. */
export class AccessGrantError extends CipherNexusError {}

export const ACCESS_GRANT_TYPES = {
  AccessGrant: [
    { name: 'fillId', type: 'uint256' },
    { name: 'assetId', type: 'uint256' },
    { name: 'buyer', type: 'address' },
    { name: 'jobConfigHash', type: 'bytes32' },
    { name: 'units', type: 'uint32' },
    { name: 'expiry', type: 'uint64' },
  ],
} as const;

/** The hash a grant names a job configuration by: sha256 of its canonical JSON, as 0x-hex. */
export function jobConfigHash(config: unknown): Hex {
  return `0x${createHash('sha256').update(canonicalJson(config)).digest('hex')}`;
}

const message = (grant: AccessGrant) => ({ ...grant, units: grant.units, expiry: BigInt(grant.expiry) });

/** Signs `grant` with the operator's account under the market's EIP-712 domain. */
export async function signAccessGrant(operator: LocalAccount, domain: TypedDataDomain, grant: AccessGrant): Promise<SignedAccessGrant> {
  const signature = await operator.signTypedData({ domain, types: ACCESS_GRANT_TYPES, primaryType: 'AccessGrant', message: message(grant) });
  return { grant, signature };
}

const uint = z.string().regex(/^\d{1,78}$/, 'a whole number in decimal');
const SignedGrantSchema = z
  .object({
    grant: z
      .object({
        fillId: uint,
        assetId: uint,
        buyer: z.string().refine((a) => isAddress(a), 'a 0x-prefixed 20-byte address'),
        jobConfigHash: z.string().regex(/^0x[0-9a-f]{64}$/, '0x and 64 lower-case hex digits'),
        units: z.number().int().min(1).max(2 ** 32 - 1),
        expiry: z.number().int().min(0),
      })
      .strict(),
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'a 65-byte signature as 0x-hex'),
  })
  .strict();

/** The JSON form of a signed grant (big numbers as decimal strings), as it is handed to a buyer and shown to an owner's agent. */
export function accessGrantToJson(signed: SignedAccessGrant): unknown {
  const { grant } = signed;
  return { grant: { ...grant, fillId: grant.fillId.toString(), assetId: grant.assetId.toString() }, signature: signed.signature };
}

/** Parses an untrusted signed grant from its JSON form; `GRANT_INVALID` names the first bad field. */
export function accessGrantFromJson(input: unknown): SignedAccessGrant {
  const parsed = parseWithSchema(input, SignedGrantSchema, 'access grant', { code: 'GRANT_INVALID' });
  const { grant } = parsed;
  return {
    grant: { ...grant, fillId: BigInt(grant.fillId), assetId: BigInt(grant.assetId), buyer: getAddress(grant.buyer), jobConfigHash: grant.jobConfigHash as Hex },
    signature: parsed.signature as Hex,
  };
}

/** Checks that `signed` was signed by `issuer` under `domain` and has not expired at `now` (unix seconds); throws `AccessGrantError`. */
export async function verifyAccessGrant(domain: TypedDataDomain, signed: SignedAccessGrant, issuer: `0x${string}`, now: number): Promise<AccessGrant> {
  let signer: string;
  try {
    signer = await recoverTypedDataAddress({ domain, types: ACCESS_GRANT_TYPES, primaryType: 'AccessGrant', message: message(signed.grant), signature: signed.signature });
  } catch {
    signer = '';
  }
  if (signer.toLowerCase() !== issuer.toLowerCase()) {
    throw new AccessGrantError('GRANT_SIGNATURE_INVALID', `the access grant for fill ${signed.grant.fillId} is not signed by the market operator ${issuer} on this chain and escrow; ask the operator for the grant of your fill`, {
      fillId: signed.grant.fillId.toString(),
    });
  }
  if (signed.grant.expiry <= now) {
    throw new AccessGrantError('GRANT_EXPIRED', `the access grant for fill ${signed.grant.fillId} expired at ${new Date(signed.grant.expiry * 1000).toISOString()}; buy access again`, {
      fillId: signed.grant.fillId.toString(),
      expiry: signed.grant.expiry,
    });
  }
  return signed.grant;
}
