import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { InvalidInputError, parseWithSchema } from '../core/index.js';
import { createCertificateRequest } from './certificate-request.js';
import { readKitFile, writeKitFile } from './kit-file.js';
import { generateSigningKeyPair, publicKeyText, signingPrivateKey } from './signing-key.js';
import { ParticipantIdSchema, SigningPrivateKeyPemSchema, SigningPublicKeySchema, TlsPrivateKeyPemSchema } from './startup-kit.js';
import { generateTlsKeyPair, tlsPrivateKeyPem } from './tls-key.js';

/**
 * A participant's own keys (`keygen`), made on its own host: the private halves go to
 * `<id>.key.json`, readable by the owner only, and never leave the host; the public halves go to
 * the certificate request `<id>.req.json` (certificate-request.ts) that the operator provisions from.
 */

/** Key files written by this version. */
export const KEY_FILE_VERSION = 1;

const PRIVATE_FILE = 0o600;
const PRIVATE_DIR = 0o700;
const PUBLIC_FILE = 0o644;

/** A participant's key file, `<id>.key.json`. */
export const ParticipantKeyFileSchema = z
  .object({
    version: z.literal(KEY_FILE_VERSION),
    participantId: ParticipantIdSchema,
    tlsPrivateKey: TlsPrivateKeyPemSchema,
    signingPrivateKey: SigningPrivateKeyPemSchema,
    signingPublicKey: SigningPublicKeySchema,
  })
  .strict()
  .superRefine((file, ctx) => {
    const privateKey = signingPrivateKey(file.signingPrivateKey);
    if (privateKey && publicKeyText(privateKey) !== file.signingPublicKey) {
      ctx.addIssue({ code: 'custom', path: ['signingPublicKey'], message: 'is not the public half of signingPrivateKey' });
    }
  });

/** A participant's key file as loaded. */
export type ParticipantKeyFile = z.output<typeof ParticipantKeyFileSchema>;

/** Parameters of `generateParticipantKeys`. */
export const GenerateParticipantKeysParametersSchema = z
  .object({
    participantId: ParticipantIdSchema,
    /** Directory for the two files; created 0700 when absent, refused when others may read it. */
    outDir: z.string().min(1),
  })
  .strict();

/** Parameters of `generateParticipantKeys`, as a caller gives them. */
export type GenerateParticipantKeysParameters = z.input<typeof GenerateParticipantKeysParametersSchema>;

/** What `generateParticipantKeys` wrote. */
export interface GenerateParticipantKeysResult {
  participantId: string;
  /** The private keys: never to be shared. */
  keyFile: string;
  /** The certificate request: to send to the operator. */
  requestFile: string;
  /** sha256 of the request file, for the operator to compare out of band. */
  requestSha256: string;
}

/** Where `keygen` puts a participant's private keys. */
export function participantKeyPath(dir: string, participantId: string): string {
  return join(dir, `${participantId}.key.json`);
}

/** Where `keygen` puts a participant's certificate request. */
export function certificateRequestPath(dir: string, participantId: string): string {
  return join(dir, `${participantId}.req.json`);
}

/** Creates `dir` (0700) or checks that only its owner can enter it, since the private key file goes there. */
function privateDirectory(dir: string): void {
  if (!existsSync(dir)) {
    try {
      mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
    } catch (error) {
      throw new InvalidInputError('KEYGEN_DIR_INVALID', `cannot create '${dir}' (${(error as NodeJS.ErrnoException).code ?? 'error'}); choose a directory you can write`, { dir });
    }
  }
  const stat = statSync(dir);
  if (!stat.isDirectory()) throw new InvalidInputError('KEYGEN_DIR_INVALID', `'${dir}' is not a directory; choose a new directory for the keys`, { dir });
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new InvalidInputError('KEYGEN_DIR_NOT_PRIVATE', `'${dir}' is open to other users (mode ${mode}); choose a new directory, or make this one private first (chmod 700)`, { dir, mode });
  }
}

/**
 * Generates a participant's ECDSA P-256 TLS key and Ed25519 signing key; writes the private halves
 * to `<id>.key.json` (0600) and the certificate request to `<id>.req.json` under `outDir`. Refuses to
 * replace existing files, since a request already sent must still match its keys.
 */
export async function generateParticipantKeys(parameters: GenerateParticipantKeysParameters): Promise<GenerateParticipantKeysResult> {
  const p = parseWithSchema(parameters, GenerateParticipantKeysParametersSchema, 'keygen', { code: 'KEYGEN_INVALID' });
  const dir = resolve(p.outDir);
  const keyFile = participantKeyPath(dir, p.participantId);
  const requestFile = certificateRequestPath(dir, p.participantId);
  for (const file of [keyFile, requestFile]) {
    if (existsSync(file)) {
      throw new InvalidInputError('KEYGEN_EXISTS', `'${file}' exists: '${p.participantId}' has keys here already; send its existing request, or choose another directory to start over`, { file });
    }
  }
  privateDirectory(dir);

  const tls = await generateTlsKeyPair();
  const signing = generateSigningKeyPair();
  const request = await createCertificateRequest(p.participantId, tls, signing);
  const keys: ParticipantKeyFile = {
    version: KEY_FILE_VERSION,
    participantId: p.participantId,
    tlsPrivateKey: await tlsPrivateKeyPem(tls.privateKey),
    signingPrivateKey: signing.privateKeyPem,
    signingPublicKey: signing.publicKey,
  };
  writeKitFile(keyFile, keys, PRIVATE_FILE);
  let requestSha256: string;
  try {
    requestSha256 = writeKitFile(requestFile, request, PUBLIC_FILE);
  } catch (error) {
    // A key file without its request is useless and would block the next attempt.
    rmSync(keyFile, { force: true });
    throw error;
  }
  return { participantId: p.participantId, keyFile, requestFile, requestSha256 };
}

/** Reads and checks a participant's key file; throws `PARTICIPANT_KEY_NOT_FOUND` or `PARTICIPANT_KEY_INVALID` naming the file and the field. */
export function loadParticipantKeyFile(file: string): ParticipantKeyFile {
  return readKitFile(file, 'participant key file', ParticipantKeyFileSchema, 'give the <id>.key.json that `cipher-nexus keygen` wrote', 'PARTICIPANT_KEY');
}
