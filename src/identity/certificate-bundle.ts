import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../core/index.js';
import { certificateFingerprint } from './certificate-authority.js';
import { readKitFile, writeKitFile } from './kit-file.js';
import { loadParticipantKeyFile } from './participant-keys.js';
import { rosterSignedBy } from './roster.js';
import { CertificatePemSchema, CoordinatorUrlSchema, KIT_VERSION, ParticipantIdSchema, RosterSchema, commonNameOf, type ParticipantKit } from './startup-kit.js';

/**
 * Certificate bundles, `participants/<id>/certificate.json`: what `provision` gives a participant.
 * Public material only (the job's CA certificate, the participant's certificate, the coordinator's
 * URL), so it may travel over any channel that keeps it intact; the participant joins it with its
 * own key file into the kit `cipher-nexus client --key` reads.
 */

/** Bundles written by this version. */
export const BUNDLE_VERSION = 1;

/** A participant's certificate bundle. */
export const CertificateBundleSchema = z
  .object({
    version: z.literal(BUNDLE_VERSION),
    participantId: ParticipantIdSchema,
    coordinatorUrl: CoordinatorUrlSchema,
    /** The job's CA: the only issuer the participant will trust for the coordinator. */
    caCertificate: CertificatePemSchema,
    /** TLS client certificate for the participant's own key, CN = participantId. */
    certificate: CertificatePemSchema,
    /** Every participant's signing key, signed by the CA: what the participant checks round identity keys against. */
    roster: RosterSchema.optional(),
  })
  .strict();

/** A certificate bundle's contents. */
export type CertificateBundle = z.output<typeof CertificateBundleSchema>;

/** Where `provision` puts a participant's certificate bundle under its output directory. */
export function certificateBundlePath(outDir: string, participantId: string): string {
  return join(outDir, 'participants', participantId, 'certificate.json');
}

/** Reads and checks a certificate bundle; throws `CERTIFICATE_BUNDLE_NOT_FOUND` or `CERTIFICATE_BUNDLE_INVALID` naming the file and the field. */
export function loadCertificateBundle(file: string): CertificateBundle {
  return readKitFile(file, 'certificate bundle', CertificateBundleSchema, "give the certificate.json the job's operator sent you", 'CERTIFICATE_BUNDLE');
}

/** Parameters of `assembleParticipantKit`. */
export interface AssembleParticipantKitParameters {
  /** The participant's `<id>.key.json` from `keygen`. */
  keyFile: string;
  /** Its certificate bundle from the operator. */
  bundleFile: string;
  /** Where to write the kit; default `<id>.kit.json` beside the key file. */
  outFile?: string;
  /** Replace an existing kit file (after the job was provisioned again). */
  force?: boolean;
}

/** What `assembleParticipantKit` wrote. */
export interface AssembleParticipantKitResult {
  kitFile: string;
  kit: ParticipantKit;
  /** sha256 of the bundle's CA certificate: the participant compares it with the operator's out of band. */
  caFingerprint: string;
}

/**
 * Joins a participant's key file and certificate bundle into its kit (0600), after checking that
 * both are for the same participant, that the certificate was issued by the bundle's CA to that id,
 * and that it certifies the participant's own TLS public key.
 */
export function assembleParticipantKit(parameters: AssembleParticipantKitParameters): AssembleParticipantKitResult {
  const keys = loadParticipantKeyFile(parameters.keyFile);
  const bundle = loadCertificateBundle(parameters.bundleFile);
  const mismatch = (check: string, detail: string, hint: string): InvalidInputError =>
    new InvalidInputError('CERTIFICATE_BUNDLE_MISMATCH', `certificate bundle '${parameters.bundleFile}' failed the ${check} check: ${detail}; ${hint}`, {
      file: parameters.bundleFile,
      check,
    });
  if (bundle.participantId !== keys.participantId) {
    throw mismatch('participant', `it is for '${bundle.participantId}', but '${parameters.keyFile}' holds the keys of '${keys.participantId}'`, 'use the bundle issued for your own request');
  }
  const ca = new X509Certificate(bundle.caCertificate);
  const certificate = new X509Certificate(bundle.certificate);
  if (!certificate.checkIssued(ca) || !certificate.verify(ca.publicKey)) {
    throw mismatch('issuer', 'its certificate was not issued by the CA in it', 'ask the operator for the bundle exactly as `provision` wrote it');
  }
  if (commonNameOf(certificate) !== keys.participantId) {
    throw mismatch('subject', `its certificate is issued to '${certificate.subject}', not 'CN=${keys.participantId}'`, 'ask the operator to provision again with your request');
  }
  const own = createPublicKey(createPrivateKey(keys.tlsPrivateKey)).export({ format: 'der', type: 'spki' });
  if (!certificate.publicKey.export({ format: 'der', type: 'spki' }).equals(own)) {
    throw mismatch('public key', `its certificate is not for the TLS key in '${parameters.keyFile}'`, 'ask the operator to provision again with the request that `keygen` wrote beside that key file');
  }
  if (bundle.roster && (!rosterSignedBy(bundle.roster, bundle.caCertificate) || bundle.roster.participants[keys.participantId] !== keys.signingPublicKey)) {
    throw mismatch('roster', 'its roster is not signed by its CA, or does not list your own signing key', 'ask the operator for the bundle exactly as `provision` wrote it');
  }

  const kitFile = resolve(parameters.outFile ?? join(dirname(parameters.keyFile), `${keys.participantId}.kit.json`));
  if (existsSync(kitFile) && !parameters.force) {
    throw new InvalidInputError('KIT_EXISTS', `'${kitFile}' exists; pass force (--force) to replace it with the kit of this bundle`, { file: kitFile });
  }
  const kit: ParticipantKit = {
    version: KIT_VERSION,
    participantId: keys.participantId,
    coordinatorUrl: bundle.coordinatorUrl,
    caCertificate: bundle.caCertificate,
    certificate: bundle.certificate,
    tlsPrivateKey: keys.tlsPrivateKey,
    signingPrivateKey: keys.signingPrivateKey,
    signingPublicKey: keys.signingPublicKey,
    ...(bundle.roster ? { roster: bundle.roster } : {}),
  };
  mkdirSync(dirname(kitFile), { recursive: true, mode: 0o700 });
  writeKitFile(kitFile, kit, 0o600);
  return { kitFile, kit, caFingerprint: certificateFingerprint(bundle.caCertificate) };
}
