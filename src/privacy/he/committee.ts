import { createHash, createHmac, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { InvalidInputError, generateCurveKeyPair, parseWithSchema } from '../../core/index.js';
import { HeKeyError } from './errors.js';
import { TAGS_PER_HOLDER } from './multiparty-plan.js';
import { paramsHash, resolveParams, type EncryptionParams, type PresetName } from './params.js';

/** A key holder as everyone in the job knows it: its id and raw public keys (Ed25519 for signing, X25519 for sealing). */
export interface HolderInfo {
  readonly id: string;
  /** Raw Ed25519 public key, 32 bytes. */
  readonly signingPublicKey: Uint8Array;
  /** Raw X25519 public key, 32 bytes. */
  readonly transportPublicKey: Uint8Array;
}

/** A key holder's own private keys. */
export interface HolderIdentity {
  readonly id: string;
  /** Ed25519 private key: signs public key shares and decryption shares. */
  readonly signingKey: KeyObject;
  /** X25519 private key: opens decryption shares sealed to this holder, and keys the tags of contributions. */
  readonly transportKey: KeyObject;
}

/** A round participant as the holders know it, from the job's identity records. */
export interface ParticipantInfo {
  readonly id: string;
  /** Raw X25519 public key, 32 bytes: with each holder's it keys the tags only this participant can put in its ciphertexts. */
  readonly transportPublicKey: Uint8Array;
}

/** A participant's own private key. */
export interface ParticipantIdentity {
  readonly id: string;
  readonly transportKey: KeyObject;
}

/** What a multi-party CKKS job agrees on before its first round; every function of the protocol takes it. */
export interface MultipartySetup {
  readonly jobId: string;
  /** CKKS parameters: a preset name (n8192 is the default to use) or checked custom parameters. */
  readonly preset: PresetName | EncryptionParams;
  /** Common random seed, 32 bytes, agreed by the caller; it fixes the public polynomial a of the joint key. */
  readonly crs: Uint8Array;
  /** The committee: all K must give a decryption share for anything to be decrypted (K-of-K). */
  readonly holders: readonly HolderInfo[];
  /** Fewest contributors an aggregate may have and still be opened. */
  readonly minContributors: number;
}

/** One round as the participants and holders know it: its context string and its participants. */
export interface RoundInfo {
  /** Unique per round of the job (e.g. `round-7`); a holder gives decryption shares once per round context. */
  readonly roundContext: string;
  /** Everyone selected for the round; a participant's slot is its position in this list sorted by id. */
  readonly participants: readonly ParticipantInfo[];
}

/** What the coordinator claims an aggregate contains, which holders check before and after decrypting. */
export interface AggregateExpectation extends RoundInfo {
  /** The contributors and the weights they declared. */
  readonly contributors: readonly { readonly id: string; readonly weight: number }[];
}

/** A checked setup with its digest and the holders sorted by id. */
export interface CheckedSetup {
  readonly jobId: string;
  readonly params: EncryptionParams;
  readonly crs: Uint8Array;
  readonly holders: readonly HolderInfo[];
  readonly minContributors: number;
  /** sha256 over everything above, hex: every share and ciphertext carries it. */
  readonly digest: string;
}

/** A checked round: participants sorted by id, with the digest tags and ciphertext headers are bound to. */
export interface CheckedRound {
  readonly roundContext: string;
  readonly participants: readonly ParticipantInfo[];
  readonly positions: ReadonlyMap<string, number>;
  /** sha256 over the setup digest, round context and participants, hex. */
  readonly digest: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const IdSchema = z.string().regex(ID, "must be 1-128 letters, digits, '.', '_', ':', '@' or '-', starting with a letter or digit");
const Key32 = z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length === 32, 'expected 32 raw key bytes (Uint8Array)');

const SetupSchema = z
  .object({
    jobId: IdSchema,
    preset: z.union([z.string(), z.object({}).passthrough()]),
    crs: Key32,
    holders: z.array(z.object({ id: IdSchema, signingPublicKey: Key32, transportPublicKey: Key32 }).strict()).min(1).max(64),
    minContributors: z.number().int().min(1).max(1_000_000),
  })
  .strict();

const RoundSchema = z
  .object({
    roundContext: z.string().min(1).max(256),
    participants: z.array(z.object({ id: IdSchema, transportPublicKey: Key32 }).strict()).min(1),
    contributors: z.array(z.object({ id: IdSchema, weight: z.number().finite().positive() }).strict()).optional(),
  })
  .strict();

/** Length-prefixed concatenation, so that digests and associated data cannot be re-split differently. */
export function frame(...parts: (string | Uint8Array | number)[]): Buffer {
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  return Buffer.concat(parts.flatMap((part) => {
    const bytes = typeof part === 'number' ? u32(part) : Buffer.from(part);
    return [u32(bytes.length), bytes];
  }));
}

const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function duplicate(ids: readonly string[]): string | undefined {
  return ids.find((id, i) => ids.indexOf(id) !== i);
}

/** Validates a setup and computes its digest; `HE_SETUP_INVALID` for anything malformed. */
export function checkSetup(setup: MultipartySetup): CheckedSetup {
  const parsed = parseWithSchema(setup, SetupSchema, 'multi-party HE setup', { code: 'HE_SETUP_INVALID' });
  const params = resolveParams(setup.preset);
  const twice = duplicate(parsed.holders.map((h) => h.id));
  if (twice !== undefined) throw new InvalidInputError('HE_SETUP_INVALID', `holder '${twice}' is listed twice; each holder appears once`, { holder: twice });
  const holders = [...setup.holders].sort(byId);
  const digest = createHash('sha256')
    .update(frame('cipher-nexus/he/mp/setup/v1', setup.jobId, paramsHash(params), setup.crs, setup.minContributors, holders.length))
    .update(Buffer.concat(holders.map((h) => frame(h.id, h.signingPublicKey, h.transportPublicKey))))
    .digest('hex');
  return { jobId: setup.jobId, params, crs: setup.crs, holders, minContributors: setup.minContributors, digest };
}

/** Validates a round's participants (and claimed contributors, if any) and computes the round digest. */
export function checkRound(setup: CheckedSetup, round: RoundInfo | AggregateExpectation, maxParticipants: number): CheckedRound {
  const parsed = parseWithSchema(round, RoundSchema, 'HE round', { code: 'HE_ROUND_INVALID' });
  const twice = duplicate(parsed.participants.map((p) => p.id));
  if (twice !== undefined) throw new InvalidInputError('HE_ROUND_INVALID', `participant '${twice}' is listed twice in round '${round.roundContext}'`, { participant: twice });
  if (parsed.participants.length > maxParticipants) {
    throw new InvalidInputError('HE_ROUND_INVALID', `round '${round.roundContext}' has ${parsed.participants.length} participants; these parameters allow at most ${maxParticipants}`, {
      participants: parsed.participants.length,
      maxParticipants,
    });
  }
  const participants = [...round.participants].sort(byId);
  const digest = createHash('sha256')
    .update(frame('cipher-nexus/he/mp/round/v1', setup.digest, round.roundContext, participants.length))
    .update(Buffer.concat(participants.map((p) => frame(p.id, p.transportPublicKey))))
    .digest('hex');
  return { roundContext: round.roundContext, participants, positions: new Map(participants.map((p, i) => [p.id, i])), digest };
}

function rawPublicKey(key: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url'));
}

/** A KeyObject for a raw 32-byte Ed25519 or X25519 public key. */
export function publicKeyObject(raw: Uint8Array, curve: 'Ed25519' | 'X25519'): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: curve, x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** The raw public half of an Ed25519 or X25519 private key. */
export function publicKeyOf(privateKey: KeyObject): Uint8Array {
  return rawPublicKey(createPublicKey(privateKey));
}

/** A new key holder: its private identity and the public `HolderInfo` to list in the setup. */
export function generateHolderIdentity(id: string): { identity: HolderIdentity; info: HolderInfo } {
  const signing = generateCurveKeyPair('ed25519');
  const transport = generateCurveKeyPair('x25519');
  const identity = { id, signingKey: signing.privateKey, transportKey: transport.privateKey };
  return { identity, info: { id, signingPublicKey: rawPublicKey(signing.publicKey), transportPublicKey: rawPublicKey(transport.publicKey) } };
}

/** A new participant: its private identity and the public `ParticipantInfo` the round lists. */
export function generateParticipantIdentity(id: string): { identity: ParticipantIdentity; info: ParticipantInfo } {
  const transport = generateCurveKeyPair('x25519');
  return { identity: { id, transportKey: transport.privateKey }, info: { id, transportPublicKey: rawPublicKey(transport.publicKey) } };
}

/** Keys one participant shares with one holder: tag values in its ciphertexts, and a MAC over its contribution. */
export interface PairKeys {
  readonly tagKey: Buffer;
  readonly macKey: Buffer;
}

/**
 * Static-static X25519 (RFC 7748) between a participant and a holder, then HKDF-SHA256 (RFC 5869) bound to the setup
 * and both ids. Only these two parties can compute it: the coordinator can neither fake a participant's tags nor its MAC.
 */
export function pairKeys(ownPrivate: KeyObject, otherPublic: Uint8Array, setup: CheckedSetup, holderId: string, participantId: string): PairKeys {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: ownPrivate, publicKey: publicKeyObject(otherPublic, 'X25519') });
  } catch (error) {
    throw new HeKeyError('HE_KEY_INVALID', `no X25519 agreement between holder '${holderId}' and participant '${participantId}': ${(error as Error).message}`);
  }
  try {
    const okm = Buffer.from(hkdfSync('sha256', shared, Buffer.from(setup.digest, 'hex'), frame('cipher-nexus/he/mp/pair/v1', holderId, participantId), 64));
    return { tagKey: okm.subarray(0, 32), macKey: okm.subarray(32) };
  } finally {
    shared.fill(0);
  }
}

/** The TAGS_PER_HOLDER values in [1, 2) a participant puts in one chunk for one holder: HMAC-SHA256 of round and chunk, 52 bits each. */
export function holderTags(tagKey: Uint8Array, roundDigest: string, chunk: number): Float64Array {
  const out = new Float64Array(TAGS_PER_HOLDER);
  for (let block = 0; block * 4 < TAGS_PER_HOLDER; block++) {
    const mac = createHmac('sha256', tagKey).update(frame('cipher-nexus/he/mp/tags/v1', roundDigest, chunk, block)).digest();
    for (let k = 0; k < 4 && block * 4 + k < TAGS_PER_HOLDER; k++) out[block * 4 + k] = 1 + Number(mac.readBigUInt64LE(8 * k) >> 12n) / 2 ** 52;
  }
  return out;
}

/** HMAC-SHA256 of a contribution's digest under a participant-holder MAC key. */
export function contributionMac(macKey: Uint8Array, bodyDigest: Uint8Array): Buffer {
  return createHmac('sha256', macKey).update(frame('cipher-nexus/he/mp/contribution-mac/v1', bodyDigest)).digest();
}
