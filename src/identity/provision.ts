import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { InvalidInputError, NotFoundError, parseWithSchema } from '../core/index.js';
import { BUNDLE_VERSION, certificateBundlePath, type CertificateBundle } from './certificate-bundle.js';
import { CertificateAuthority } from './certificate-authority.js';
import { verifyCertificateRequests } from './certificate-request.js';
import { writeKitFile } from './kit-file.js';
import { OPERATORS_FILE_MODE, OperatorNameSchema, issueOperatorCredentials, operatorCredentialsPath } from './operator-credentials.js';
import { loadRevocationList, type RevocationList, type RevokedParticipant } from './revocation-list.js';
import { KIT_VERSION, loadServerKit, revocationListPath, serverKitPath, type ServerKitFile } from './startup-kit.js';
import { signRoster } from './roster.js';

/** The server kit holds the coordinator's key: readable by its owner only, as is the directory tree. Bundles and the revocation list are public. */
const PRIVATE_FILE = 0o600;
const PRIVATE_DIR = 0o700;
const PUBLIC_FILE = 0o644;

// RFC 1123 host names, case-insensitive; IP literals are recognised by node:net instead.
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Parameters of `provision`. */
export const ProvisionParametersSchema = z
  .object({
    /** The directory to create; it must not exist, be empty, or (with `force`) hold an earlier provision. */
    outDir: z.string().min(1),
    /** The participants' certificate request files (`<id>.req.json` from `keygen`), one per participant. */
    requests: z.array(z.string().min(1)).min(1),
    /** Host name or IP address participants dial; the server certificate names it, localhost and 127.0.0.1. */
    serverHost: z.string().refine((host) => isIP(host) !== 0 || HOST_NAME.test(host), 'expected a host name or an IP address'),
    /** The coordinator's port; 0 when it picks one at start (tests), and participants are given the address another way. */
    serverPort: z.number().int().min(0).max(65535),
    /** Lifetime of the CA and of every certificate, default a year. */
    validDays: z.number().int().min(1).max(3650).default(365),
    /** Replace an earlier provision in `outDir`: every participant then needs its new certificate bundle. */
    force: z.boolean().default(false),
    /** Operators of the dashboard and API, each issued a token with its role; none by default (`operator add` adds them later). */
    operators: z
      .array(z.object({ name: OperatorNameSchema, role: z.enum(['viewer', 'admin']) }).strict())
      .default([])
      .refine((list) => new Set(list.map((o) => o.name)).size === list.length, 'lists an operator twice; give each operator once'),
  })
  .strict();

/** Parameters of `provision`, as a caller gives them. */
export type ProvisionParameters = z.input<typeof ProvisionParametersSchema>;

/** What `provision` wrote. */
export interface ProvisionResult {
  outDir: string;
  coordinatorUrl: string;
  /** sha256 of the CA certificate, to compare out of band. */
  caFingerprint: string;
  serverKitFile: string;
  revocationListFile: string;
  /** Certificate bundle of each participant, by id, in the order of the requests. */
  certificateBundleFiles: ReadonlyMap<string, string>;
  /** sha256 of each participant's request file, by id, for comparing with the participant's out of band. */
  requestDigests: ReadonlyMap<string, string>;
  /** The operators file: each operator's role and token digest, and the scrape token's digest. */
  operatorsFile: string;
  /** Each operator's token, by name: shown once, never stored. */
  operatorTokens: ReadonlyMap<string, { role: 'viewer' | 'admin'; token: string }>;
  /** The token Prometheus presents on `/metrics`: shown once, never stored. */
  scrapeToken: string;
}

function coordinatorUrlOf(host: string, port: number): string {
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** Whether a directory is absent or empty; false for a file. */
function isFreshDirectory(dir: string): boolean {
  if (!existsSync(dir)) return true;
  return statSync(dir).isDirectory() && readdirSync(dir).length === 0;
}

/** Refuses an output directory that holds anything but an earlier provision, or an earlier provision without `force`. */
function checkOutDir(outDir: string, force: boolean): void {
  if (isFreshDirectory(outDir)) return;
  if (!existsSync(serverKitPath(outDir))) {
    throw new InvalidInputError('PROVISION_DIR_NOT_EMPTY', `'${outDir}' exists and is not a provision directory; choose a new or empty directory`, { outDir });
  }
  if (!force) {
    throw new InvalidInputError('PROVISION_EXISTS', `'${outDir}' already holds a provisioned job; pass force (--force) to replace it, after which every participant needs its new kit`, {
      outDir,
    });
  }
}

/**
 * Creates the directory `provision` stages its files in, beside `outDir`, and any missing directory
 * above it, one level at a time: node's recursive mkdir loops forever where the kernel answers
 * ENOENT for a parent that exists (under /proc), and its ENOTDIR names no option.
 */
function makeStagingDirectory(outDir: string, staging: string): void {
  const missing: string[] = [];
  let dir = dirname(staging);
  while (!existsSync(dir)) {
    missing.unshift(dir);
    dir = dirname(dir);
  }
  if (!statSync(dir).isDirectory()) {
    throw new InvalidInputError('PROVISION_OUT_INVALID', `--out '${outDir}' is below '${dir}', which is a file, not a directory; give a path inside a directory`, { outDir, file: dir });
  }
  for (const next of [...missing, staging]) {
    try {
      mkdirSync(next, { mode: PRIVATE_DIR });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new InvalidInputError('PROVISION_OUT_INVALID', `--out '${outDir}' cannot be created: making '${next}' failed with ${code}; give a path in a directory you can write to`, { outDir, code });
    }
  }
}

/**
 * Checks the participants' certificate requests, then creates a per-job CA, the coordinator's server
 * kit, a certificate bundle per participant (for the key in its request: no participant's private key
 * is ever here), an empty revocation list and the operators' token digests under `outDir`. Everything is written into a sibling
 * directory first and renamed into place, so a failure leaves `outDir` as it was.
 */
export async function provision(parameters: ProvisionParameters): Promise<ProvisionResult> {
  const p = parseWithSchema(parameters, ProvisionParametersSchema, 'provision', { code: 'PROVISION_INVALID' });
  const outDir = resolve(p.outDir);
  checkOutDir(outDir, p.force);
  const requests = await verifyCertificateRequests(p.requests);

  const serverHost = p.serverHost.toLowerCase();
  const coordinatorUrl = coordinatorUrlOf(serverHost, p.serverPort);
  const ca = await CertificateAuthority.create({ commonName: `Cipher Nexus job CA ${randomBytes(4).toString('hex')}`, validDays: p.validDays });
  const server = await ca.issueServerCertificate([serverHost, 'localhost', '127.0.0.1'], p.validDays);
  const bundles = new Map<string, CertificateBundle>();
  const registry: ServerKitFile['participants'] = {};
  const roster = await signRoster(ca, Object.fromEntries(requests.map((r) => [r.participantId, r.signingPublicKey])));
  for (const { participantId, tlsPublicKey, signingPublicKey } of requests) {
    const tls = await ca.issueParticipantCertificate(participantId, tlsPublicKey, p.validDays);
    bundles.set(participantId, { version: BUNDLE_VERSION, participantId, coordinatorUrl, caCertificate: ca.certificatePem, certificate: tls.certificatePem, roster });
    registry[participantId] = { certificateFingerprint: tls.fingerprint, signingPublicKey };
  }
  const serverKit: ServerKitFile = {
    version: KIT_VERSION,
    coordinatorUrl,
    caCertificate: ca.certificatePem,
    certificate: server.certificatePem,
    privateKey: server.privateKeyPem,
    participants: registry,
  };
  const revocations: RevocationList = { version: 1, entries: [] };
  const operators = issueOperatorCredentials(p.operators);

  const staging = join(dirname(outDir), `.${basename(outDir)}.provisioning-${randomBytes(6).toString('hex')}`);
  makeStagingDirectory(outDir, staging);
  try {
    mkdirSync(join(staging, 'server'), { mode: PRIVATE_DIR });
    writeKitFile(serverKitPath(staging), serverKit, PRIVATE_FILE);
    writeKitFile(revocationListPath(staging), revocations, PUBLIC_FILE);
    writeKitFile(operatorCredentialsPath(staging), operators.credentials, OPERATORS_FILE_MODE);
    for (const [id, bundle] of bundles) {
      mkdirSync(dirname(certificateBundlePath(staging, id)), { recursive: true, mode: PRIVATE_DIR });
      writeKitFile(certificateBundlePath(staging, id), bundle, PUBLIC_FILE);
    }
    replaceDirectory(staging, outDir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  return {
    outDir,
    coordinatorUrl,
    caFingerprint: ca.fingerprint,
    serverKitFile: serverKitPath(outDir),
    revocationListFile: revocationListPath(outDir),
    certificateBundleFiles: new Map(requests.map(({ participantId }) => [participantId, certificateBundlePath(outDir, participantId)])),
    requestDigests: new Map(requests.map(({ participantId, sha256 }) => [participantId, sha256])),
    operatorsFile: operatorCredentialsPath(outDir),
    operatorTokens: new Map(p.operators.map(({ name, role }) => [name, { role, token: operators.tokens.get(name) as string }])),
    scrapeToken: operators.scrapeToken,
  };
}

/** Moves `staging` to `target`, whose old contents (if any) are removed only after the new ones are in place. */
function replaceDirectory(staging: string, target: string): void {
  if (!existsSync(target)) return renameSync(staging, target);
  const old = `${staging}.old`;
  renameSync(target, old);
  try {
    renameSync(staging, target);
  } catch (error) {
    renameSync(old, target);
    throw error;
  }
  rmSync(old, { recursive: true, force: true });
}

/** What `revokeParticipant` did. */
export interface RevokeResult {
  entry: RevokedParticipant;
  /** True when the participant was revoked before; the list is then unchanged. */
  alreadyRevoked: boolean;
}

/** Adds a participant of the job provisioned in `outDir` to its revocation list; the coordinator refuses it once it loads the list again. */
export function revokeParticipant(outDir: string, participantId: string, now: Date = new Date()): RevokeResult {
  const kit = loadServerKit(serverKitPath(outDir));
  const registered = kit.participants.get(participantId);
  if (!registered) throw new NotFoundError('participant', participantId);
  const file = revocationListPath(outDir);
  const list = loadRevocationList(file);
  const earlier = list.entries.find((entry) => entry.participantId === participantId);
  if (earlier) return { entry: earlier, alreadyRevoked: true };
  const entry: RevokedParticipant = { participantId, certificateFingerprint: registered.certificateFingerprint, revokedAt: now.toISOString() };
  writeKitFile(file, { ...list, entries: [...list.entries, entry] }, PUBLIC_FILE);
  return { entry, alreadyRevoked: false };
}
