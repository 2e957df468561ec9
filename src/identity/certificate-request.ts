import { createHash, createPublicKey, sign, verify, type KeyObject, type webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { z } from 'zod';
import { InvalidInputError } from '../core/index.js';
import { readKitFileWithDigest } from './kit-file.js';
import { signingPublicKey, type SigningKeyPair } from './signing-key.js';
import { ParticipantIdSchema, SigningPublicKeySchema } from './startup-kit.js';
import { ECDSA_P256 } from './tls-key.js';

/**
 * Certificate requests, `<id>.req.json`: what a participant sends the job's operator so that the
 * job trusts keys only the participant holds. Two proofs of possession:
 * - the TLS key signs a PKCS#10 request (RFC 2986 §3: the requester signs its own public key and
 *   subject), subject `CN=<id>`;
 * - the Ed25519 signing key signs (id, sha256 of that request's DER) (RFC 8032), which also binds
 *   the signing key to this TLS key: a proof copied from another request does not verify.
 * Anything else the CSR asks for (extensions, attributes) is ignored: the CA sets every extension.
 */

/** Requests written by this version; `provision` refuses any other. */
export const REQUEST_VERSION = 1;

/** A certificate request file. The CSR is checked by `verifyCertificateRequests`, so that each failure names its check. */
export const CertificateRequestSchema = z
  .object({
    version: z.literal(REQUEST_VERSION),
    participantId: ParticipantIdSchema,
    /** PEM PKCS#10 certificate request for the participant's ECDSA P-256 TLS key. */
    csr: z.string(),
    signingPublicKey: SigningPublicKeySchema,
    /** Ed25519 signature over `signingProofMessage(participantId, csr)`, base64url. */
    signingProof: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'expected a base64url Ed25519 signature (86 characters)'),
  })
  .strict();

/** A certificate request file's contents. */
export type CertificateRequest = z.output<typeof CertificateRequestSchema>;

/** A request that passed every check: what the CA certifies and the registry records. */
export interface VerifiedCertificateRequest {
  file: string;
  participantId: string;
  /** The participant's TLS public key, from the CSR. */
  tlsPublicKey: x509.PublicKey;
  signingPublicKey: string;
  /** sha256 of the request file's bytes, for the operator to compare with the participant's out of band. */
  sha256: string;
}

// Separates this signature from every other use of the key (signed messages sign other layouts).
const PROOF_DOMAIN = 'cipher-nexus certificate request v1';

/** What the Ed25519 key signs: the domain, the id and the CSR's sha256, NUL-separated (neither may contain NUL). */
export function signingProofMessage(participantId: string, csrDer: Uint8Array): Buffer {
  return Buffer.from(`${PROOF_DOMAIN}\0${participantId}\0${createHash('sha256').update(csrDer).digest('hex')}`);
}

/** A certificate request for keys the caller just made: the CSR signed by the TLS key, the proof signed by the Ed25519 key. */
export async function createCertificateRequest(participantId: string, tlsKeys: webcrypto.CryptoKeyPair, signing: SigningKeyPair): Promise<CertificateRequest> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [participantId] }], signingAlgorithm: ECDSA_P256, keys: tlsKeys });
  const proof = sign(null, signingProofMessage(participantId, new Uint8Array(csr.rawData)), signing.privateKeyPem);
  return { version: REQUEST_VERSION, participantId, csr: csr.toString('pem'), signingPublicKey: signing.publicKey, signingProof: proof.toString('base64url') };
}

const REQUEST_HINT = 'ask the participant to run `cipher-nexus keygen` again and send you the new request';

/** The error for a request that fails `check`: one line naming the file and the check. */
function refused(file: string, check: string, detail: string, hint = REQUEST_HINT): InvalidInputError {
  return new InvalidInputError('CERTIFICATE_REQUEST_INVALID', `certificate request '${file}' failed the ${check} check: ${detail}; ${hint}`, { file, check });
}

function parseCsr(file: string, pem: string): x509.Pkcs10CertificateRequest {
  try {
    return new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw refused(file, 'CSR format', 'csr is not a PEM PKCS#10 certificate request');
  }
}

function tlsKeyOfCsr(file: string, csr: x509.Pkcs10CertificateRequest): KeyObject {
  let key: KeyObject | undefined;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch {
    key = undefined;
  }
  if (key?.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw refused(file, 'CSR key type', 'the CSR is not for an ECDSA P-256 key');
  return key;
}

/** Reads one request and runs every check that needs no other request. */
async function verifyOne(file: string): Promise<VerifiedCertificateRequest & { tlsKeyDer: string }> {
  const { value: request, sha256 } = readKitFileWithDigest(file, 'certificate request', CertificateRequestSchema, REQUEST_HINT, 'CERTIFICATE_REQUEST');
  const csr = parseCsr(file, request.csr);
  const tlsKey = tlsKeyOfCsr(file, csr);
  let signed: boolean;
  try {
    signed = await csr.verify();
  } catch {
    signed = false;
  }
  if (!signed) throw refused(file, 'CSR signature', 'the CSR is not signed by the key it names (altered, or made without that key)');
  // The CA issues exactly `CN=<id>`; a CSR that asked for anything else was made for another identity.
  const subject = csr.subjectName.toJSON();
  if (subject.length !== 1 || Object.keys(subject[0]).join() !== 'CN' || subject[0].CN.length !== 1 || subject[0].CN[0] !== request.participantId) {
    throw refused(file, 'CSR subject', `the CSR's subject is '${csr.subject}', not 'CN=${request.participantId}'`);
  }
  const signingKey = signingPublicKey(request.signingPublicKey);
  const message = signingProofMessage(request.participantId, new Uint8Array(csr.rawData));
  if (!signingKey || !verify(null, message, signingKey, Buffer.from(request.signingProof, 'base64url'))) {
    throw refused(file, 'signing-key proof', `signingProof is not a signature by signingPublicKey over participant '${request.participantId}' and this CSR`);
  }
  return {
    file,
    participantId: request.participantId,
    tlsPublicKey: csr.publicKey,
    signingPublicKey: request.signingPublicKey,
    sha256,
    tlsKeyDer: tlsKey.export({ format: 'der', type: 'spki' }).toString('hex'),
  };
}

/**
 * Reads and checks certificate request files (format, participant id, CSR signature and subject,
 * signing-key proof) and that no two of them share an id, a TLS key or a signing key; throws
 * `CERTIFICATE_REQUEST_NOT_FOUND` or `CERTIFICATE_REQUEST_INVALID` naming the file and the check.
 */
export async function verifyCertificateRequests(files: readonly string[]): Promise<VerifiedCertificateRequest[]> {
  const verified: VerifiedCertificateRequest[] = [];
  const ids = new Map<string, string>();
  const tlsKeys = new Map<string, string>();
  const signingKeys = new Map<string, string>();
  for (const file of files) {
    const { tlsKeyDer, ...request } = await verifyOne(file);
    const unique = (seen: Map<string, string>, key: string, check: string, detail: string): void => {
      const earlier = seen.get(key);
      if (earlier !== undefined) throw refused(file, check, `${detail} as '${earlier}'`, 'each participant sends one request, with keys of its own');
      seen.set(key, file);
    };
    unique(ids, request.participantId, 'duplicate id', `it requests participant '${request.participantId}', the same`);
    unique(tlsKeys, tlsKeyDer, 'duplicate TLS key', 'its CSR has the same TLS key');
    unique(signingKeys, request.signingPublicKey, 'duplicate signing key', 'it has the same signing key');
    verified.push(request);
  }
  return verified;
}
