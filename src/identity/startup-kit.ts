import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { readKitFile } from './kit-file.js';
import { loadRevocationList } from './revocation-list.js';
import { isSigningPublicKeyText, publicKeyText, signingPrivateKey } from './signing-key.js';

/**
 * Startup kits: what each party of a job needs to join it. A participant's kit holds its TLS client
 * certificate and key, its Ed25519 signing key and the CA that vouches for the coordinator; the
 * participant assembles it on its own host from the keys it generated (participant-keys.ts) and the
 * certificate bundle the operator issued (certificate-bundle.ts), so its private keys never leave
 * that host. The server kit, written by `provision`, holds the coordinator's certificate and key and
 * the registry that maps each participant id to its certificate fingerprint and signing key.
 */

/** Kits written by this version; a loader refuses any other. */
export const KIT_VERSION = 1;

/** A participant id: lowercase letters, digits and hyphens, 1 to 63 characters, not starting with a hyphen, so it is safe in a certificate's CN, a path and a header. */
export const PARTICIPANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A participant id (PARTICIPANT_ID_PATTERN). */
export const ParticipantIdSchema = z.string().regex(PARTICIPANT_ID_PATTERN);

/** The certificate in a PEM text, or undefined when it is not one. */
export function certificateOf(text: string): X509Certificate | undefined {
  try {
    return new X509Certificate(text);
  } catch {
    return undefined;
  }
}

/** The ECDSA P-256 private key in a PEM text, or undefined when it is not one. */
export function tlsKeyOf(text: string): KeyObject | undefined {
  try {
    const key = createPrivateKey(text);
    return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? key : undefined;
  } catch {
    return undefined;
  }
}

// The fields kits, key files, requests and certificate bundles share.
/** A PEM X.509 certificate. */
export const CertificatePemSchema = z.string().refine((text) => certificateOf(text) !== undefined, 'is not a PEM X.509 certificate');
/** A PEM (PKCS#8) ECDSA P-256 private key: a participant's or the coordinator's TLS key. */
export const TlsPrivateKeyPemSchema = z.string().refine((text) => tlsKeyOf(text) !== undefined, 'is not a PEM ECDSA P-256 private key');
/** A PEM (PKCS#8) Ed25519 private key: a participant's message-signing key. */
export const SigningPrivateKeyPemSchema = z.string().refine((text) => signingPrivateKey(text) !== undefined, 'is not a PEM Ed25519 private key');
/** An Ed25519 public key as base64url of its 32 bytes; checked by its text alone, since a kit's roster holds one per participant (the key is imported where it verifies). */
export const SigningPublicKeySchema = z.string().refine(isSigningPublicKeyText, 'is not a base64url Ed25519 public key (43 characters)');
/** Where the coordinator listens, `https://host:port`. */
export const CoordinatorUrlSchema = z.string().url().regex(/^https:\/\//, 'expected an https:// URL');
const fingerprint = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256 of the certificate)');

/** The CN of a certificate's subject, or undefined when it has none. */
export function commonNameOf(certificate: X509Certificate): string | undefined {
  return certificate.subject.split('\n').find((part) => part.startsWith('CN='))?.slice(3);
}

/** Adds an issue unless `certificate` is signed by `ca` and `key` is its private key; a field that is not PEM has its own issue already. */
function checkChain(ctx: z.RefinementCtx, ca: X509Certificate | undefined, certificate: X509Certificate | undefined, key: KeyObject | undefined, keyField: string): void {
  if (!ca || !certificate || !key) return;
  if (!certificate.checkIssued(ca) || !certificate.verify(ca.publicKey)) {
    ctx.addIssue({ code: 'custom', path: ['certificate'], message: 'was not issued by the CA in caCertificate' });
  } else if (!certificate.checkPrivateKey(key)) {
    ctx.addIssue({ code: 'custom', path: [keyField], message: "is not the private key of the kit's certificate" });
  }
}

/**
 * The roster: every participant of a job and its Ed25519 signing key, signed by the job's CA when `provision` runs.
 * The CA's private key exists only during provisioning, so a coordinator that later hands participants the round's
 * identity keys (SecAgg+ key bundles, CKKS round keys) cannot add a participant of its own making or swap a key: each
 * participant checks what it is handed against its roster. Without it, a coordinator could fill a round with
 * participants it plays itself and read the one real participant's update out of the "aggregate".
 */
export const RosterSchema = z
  .object({
    participants: z.record(ParticipantIdSchema, SigningPublicKeySchema),
    /** ECDSA P-256 over SHA-256 (IEEE P1363), base64url, by the job's CA over the canonical JSON of `participants`. */
    signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'a 64-byte ECDSA signature in base64url'),
  })
  .strict();

/** A job's roster as written in certificate bundles and participant kits. */
export type Roster = z.output<typeof RosterSchema>;

/** A participant's startup kit, `participants/<id>/kit.json`. */
export const ParticipantKitSchema = z
  .object({
    version: z.literal(KIT_VERSION),
    participantId: ParticipantIdSchema,
    /** Where the coordinator listens, `https://host:port`. */
    coordinatorUrl: CoordinatorUrlSchema,
    /** The job's CA: the only issuer the participant trusts for the coordinator. */
    caCertificate: CertificatePemSchema,
    /** TLS client certificate, CN = participantId. */
    certificate: CertificatePemSchema,
    tlsPrivateKey: TlsPrivateKeyPemSchema,
    /** Ed25519 key that signs every message (signed-message.ts). */
    signingPrivateKey: SigningPrivateKeyPemSchema,
    signingPublicKey: SigningPublicKeySchema,
    /** The job's roster (see RosterSchema); kits assembled before rosters existed have none and check nothing. */
    roster: RosterSchema.optional(),
  })
  .strict()
  .superRefine((kit, ctx) => {
    const certificate = certificateOf(kit.certificate);
    if (certificate && commonNameOf(certificate) !== kit.participantId) {
      ctx.addIssue({ code: 'custom', path: ['certificate'], message: `is not issued to participantId '${kit.participantId}'` });
    }
    checkChain(ctx, certificateOf(kit.caCertificate), certificate, tlsKeyOf(kit.tlsPrivateKey), 'tlsPrivateKey');
    const privateKey = signingPrivateKey(kit.signingPrivateKey);
    if (privateKey && publicKeyText(privateKey) !== kit.signingPublicKey) {
      ctx.addIssue({ code: 'custom', path: ['signingPublicKey'], message: 'is not the public half of signingPrivateKey' });
    }
  });

/** What the coordinator knows of one participant. */
export const RegisteredParticipantSchema = z
  .object({
    /** sha256 of the participant's TLS certificate (DER), lowercase hex. */
    certificateFingerprint: fingerprint,
    /** Its Ed25519 public key, base64url. */
    signingPublicKey: SigningPublicKeySchema,
  })
  .strict();

/** The coordinator's startup kit, `server/kit.json`. */
export const ServerKitSchema = z
  .object({
    version: z.literal(KIT_VERSION),
    coordinatorUrl: CoordinatorUrlSchema,
    caCertificate: CertificatePemSchema,
    certificate: CertificatePemSchema,
    privateKey: TlsPrivateKeyPemSchema,
    participants: z.record(ParticipantIdSchema, RegisteredParticipantSchema),
  })
  .strict()
  .superRefine((kit, ctx) => {
    checkChain(ctx, certificateOf(kit.caCertificate), certificateOf(kit.certificate), tlsKeyOf(kit.privateKey), 'privateKey');
  });

/** A participant's kit as loaded. */
export type ParticipantKit = z.output<typeof ParticipantKitSchema>;
/** One registry entry of the server kit. */
export type RegisteredParticipant = z.output<typeof RegisteredParticipantSchema>;
/** The server kit as written to `server/kit.json`. */
export type ServerKitFile = z.input<typeof ServerKitSchema>;

/** The server kit as loaded: the registry as a map (ids come from files, so never index a plain object with them) and the ids revoked when it was loaded. */
export interface ServerKit extends Omit<z.output<typeof ServerKitSchema>, 'participants'> {
  participants: ReadonlyMap<string, RegisteredParticipant>;
  revoked: ReadonlySet<string>;
}

/** Where `provision` puts the server kit under its output directory. */
export function serverKitPath(outDir: string): string {
  return join(outDir, 'server', 'kit.json');
}

/** Where `provisionWithLocalKeys` puts a participant's assembled kit under its output directory (`provision` itself writes no participant kit). */
export function participantKitPath(outDir: string, participantId: string): string {
  return join(outDir, 'participants', participantId, 'kit.json');
}

/** Where the revocation list sits: beside the server kit, which is what the coordinator's host receives. */
export function revocationListPath(outDir: string): string {
  return join(outDir, 'server', 'revoked.json');
}

const KIT_HINT = 'restore it from the provisioning output, or provision the job again';
const PARTICIPANT_KIT_HINT = 'assemble it again from your key file and certificate bundle (cipher-nexus kit assemble)';

/** Reads and checks a participant's kit.json (schema, certificate chain, key pairs); throws `KIT_NOT_FOUND` or `KIT_INVALID` naming the file and the field. */
export function loadParticipantKit(file: string): ParticipantKit {
  return readKitFile(file, 'participant kit', ParticipantKitSchema, PARTICIPANT_KIT_HINT);
}

/** Reads and checks the server kit.json and the revocation list beside it; throws `KIT_NOT_FOUND` or `KIT_INVALID` naming the file and the field. */
export function loadServerKit(file: string): ServerKit {
  const kit = readKitFile(file, 'server kit', ServerKitSchema, KIT_HINT);
  const revoked = loadRevocationList(join(dirname(file), 'revoked.json'));
  return { ...kit, participants: new Map(Object.entries(kit.participants)), revoked: new Set(revoked.entries.map((r) => r.participantId)) };
}
