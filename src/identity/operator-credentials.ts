import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidInputError, NotFoundError } from '../core/index.js';
import { readKitFile, writeKitFile } from './kit-file.js';
import { serverKitPath } from './startup-kit.js';

/**
 * Operators' credentials, `server/operators.json` beside the server kit. An operator holds a bearer
 * token of 256 random bits; the file keeps only each token's sha256, so it can sit with the
 * coordinator's configuration without being a secret that opens the dashboard. A salted or slow hash
 * is not needed: nobody can guess 256 random bits from their digest.
 */

/** Files written by this version; a loader refuses any other. */
export const OPERATORS_FILE_VERSION = 1;

/** What an operator may do: a viewer reads; an admin also revokes participants and pauses, resumes or aborts the job. */
export type OperatorRole = 'viewer' | 'admin';
/** The roles, least privileged first. */
export const OPERATOR_ROLES: readonly OperatorRole[] = ['viewer', 'admin'];

/** An operator's name: as a participant id, so it is safe in a log line, an audit actor and a header. */
export const OperatorNameSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected lowercase letters, digits and hyphens (1 to 63, not starting with a hyphen)');

const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (the sha256 of a token)');

/** One operator as stored: its role and its token's digest. */
export const StoredOperatorSchema = z.object({ role: z.enum(['viewer', 'admin']), tokenSha256: Sha256Schema, issuedAt: z.string().datetime() }).strict();

/** The operators file. */
export const OperatorCredentialsSchema = z
  .object({
    version: z.literal(OPERATORS_FILE_VERSION),
    operators: z.record(OperatorNameSchema, StoredOperatorSchema),
    /** Digest of the token Prometheus presents on `/metrics`; it opens nothing else. */
    scrapeTokenSha256: Sha256Schema,
  })
  .strict();

/** The operators file as stored. */
export type OperatorCredentials = z.output<typeof OperatorCredentialsSchema>;

/** An operator to issue a token to. */
export interface OperatorGrant {
  name: string;
  role: OperatorRole;
}

/** Who presented a token, as the coordinator knows them. */
export interface OperatorIdentity {
  name: string;
  role: OperatorRole;
  /** The digest the token matched; a session ends when the stored digest changes. */
  tokenSha256: string;
}

const OPERATOR_TOKEN_PREFIX = 'cnop_';
const SCRAPE_TOKEN_PREFIX = 'cnscrape_';

/** Where the operators file sits: beside the server kit, on the coordinator's host. */
export function operatorCredentialsPath(outDir: string): string {
  return join(outDir, 'server', 'operators.json');
}

/** The sha256 of a token's UTF-8 text, lowercase hex. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function newToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** A new operator token (256 random bits); show it once and keep only `tokenDigest` of it. */
export function newOperatorToken(): string {
  return newToken(OPERATOR_TOKEN_PREFIX);
}

/** A new `/metrics` scrape token (256 random bits). */
export function newScrapeToken(): string {
  return newToken(SCRAPE_TOKEN_PREFIX);
}

function sameDigest(a: string, b: string): boolean {
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** The operator whose token this is, or undefined; every stored digest is compared in constant time. */
export function findOperator(credentials: OperatorCredentials, token: string): OperatorIdentity | undefined {
  const digest = tokenDigest(token);
  let found: OperatorIdentity | undefined;
  for (const [name, stored] of Object.entries(credentials.operators)) {
    if (sameDigest(digest, stored.tokenSha256) && !found) found = { name, role: stored.role, tokenSha256: stored.tokenSha256 };
  }
  return found;
}

/** Whether `token` is the scrape token, compared in constant time. */
export function isScrapeToken(credentials: OperatorCredentials, token: string): boolean {
  return sameDigest(tokenDigest(token), credentials.scrapeTokenSha256);
}

const HINT = 'provision the job again with --operators, or add an operator with `cipher-nexus operator add`';

/** Reads and checks the operators file; throws `OPERATORS_NOT_FOUND` or `OPERATORS_INVALID` naming the file and the field. */
export function loadOperatorCredentials(file: string): OperatorCredentials {
  return readKitFile(file, 'operators file', OperatorCredentialsSchema, HINT, 'OPERATORS');
}

/** Parses `name[:role]` lists such as `alice:admin,bob` (role viewer by default); throws `OPERATORS_INVALID` naming the entry. */
export function parseOperatorGrants(list: string): OperatorGrant[] {
  const grants: OperatorGrant[] = [];
  for (const entry of list.split(',').map((part) => part.trim())) {
    const [name, role = 'viewer', ...rest] = entry.split(':');
    if (!OperatorNameSchema.safeParse(name).success || rest.length > 0 || !(OPERATOR_ROLES as readonly string[]).includes(role)) {
      throw new InvalidInputError('OPERATORS_INVALID', `operator '${entry}' is not NAME or NAME:ROLE with a name of lowercase letters, digits and hyphens and a role of ${OPERATOR_ROLES.join(' or ')}`, { entry });
    }
    if (grants.some((g) => g.name === name)) throw new InvalidInputError('OPERATORS_INVALID', `operator '${name}' is listed twice; give each operator once`, { entry });
    grants.push({ name, role: role as OperatorRole });
  }
  return grants;
}

/** Fresh credentials for `grants`: the file to store and the tokens to show once. */
export function issueOperatorCredentials(grants: readonly OperatorGrant[], now: Date = new Date()): { credentials: OperatorCredentials; tokens: Map<string, string>; scrapeToken: string } {
  const tokens = new Map<string, string>();
  const operators: OperatorCredentials['operators'] = {};
  for (const { name, role } of grants) {
    const token = newOperatorToken();
    tokens.set(name, token);
    operators[name] = { role, tokenSha256: tokenDigest(token), issuedAt: now.toISOString() };
  }
  const scrapeToken = newScrapeToken();
  return { credentials: { version: OPERATORS_FILE_VERSION, operators, scrapeTokenSha256: tokenDigest(scrapeToken) }, tokens, scrapeToken };
}

/** The operators file is as private as the server kit: its digests are not secrets, but who may operate is the operator's business. */
export const OPERATORS_FILE_MODE = 0o600;

/** What `addOperator` did. */
export interface AddOperatorResult {
  file: string;
  /** The new token, to show once. */
  token: string;
  /** True when an earlier token of this operator was replaced (and stops working). */
  replaced: boolean;
  /** A new scrape token, when the file did not exist before. */
  scrapeToken?: string;
}

/**
 * Issues a token to one operator of the job provisioned in `outDir`, creating the operators file
 * (with a scrape token) when it is absent; an existing operator is refused unless `replace`, which
 * rotates its token. The coordinator reads the file again on its next request.
 */
export function addOperator(outDir: string, grant: OperatorGrant, options: { replace?: boolean; now?: Date } = {}): AddOperatorResult {
  const name = OperatorNameSchema.safeParse(grant.name);
  if (!name.success) throw new InvalidInputError('OPERATORS_INVALID', `operator name '${grant.name}': ${name.error.issues[0].message}`, { name: grant.name });
  if (!existsSync(serverKitPath(outDir))) {
    throw new InvalidInputError('KIT_NOT_FOUND', `'${outDir}' has no server/kit.json; give the directory \`cipher-nexus provision --out\` created`, { outDir });
  }
  const file = operatorCredentialsPath(outDir);
  const fresh = !existsSync(file);
  const issued = issueOperatorCredentials([grant], options.now);
  const current = fresh ? { ...issued.credentials, operators: {} } : loadOperatorCredentials(file);
  const replaced = Object.hasOwn(current.operators, grant.name);
  if (replaced && !options.replace) {
    throw new InvalidInputError('OPERATOR_EXISTS', `operator '${grant.name}' already has a token; pass --replace to issue a new one (the old one stops working)`, { name: grant.name });
  }
  writeKitFile(file, { ...current, operators: { ...current.operators, [grant.name]: issued.credentials.operators[grant.name] } }, OPERATORS_FILE_MODE);
  return { file, token: issued.tokens.get(grant.name) as string, replaced, ...(fresh ? { scrapeToken: issued.scrapeToken } : {}) };
}

/** Removes an operator of the job provisioned in `outDir`; its token and sessions stop working at the coordinator's next request. */
export function removeOperator(outDir: string, name: string): void {
  const file = operatorCredentialsPath(outDir);
  const current = loadOperatorCredentials(file);
  if (!Object.hasOwn(current.operators, name)) throw new NotFoundError('operator', name);
  const operators = Object.fromEntries(Object.entries(current.operators).filter(([other]) => other !== name));
  writeKitFile(file, { ...current, operators }, OPERATORS_FILE_MODE);
}
