import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { getAddress, isAddress, type Address } from 'viem';
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.js';
import type { NexusDeployment } from './deploy.js';

const address = z.string().refine((v) => isAddress(v), 'expected a 0x-prefixed 20-byte address').transform((v): Address => getAddress(v));

/** The file form of a deployment: addresses, chain id, and the first block as a decimal string. */
const DeploymentFileSchema = z
  .object({
    chainId: z.number().int().positive(),
    fromBlock: z.string().regex(/^\d+$/, 'expected a decimal block number'),
    token: address,
    timelock: address,
    governor: address,
    registry: address,
    staking: address,
    reputation: address,
    distributor: address,
    dataAsset: address,
    escrow: address,
    membershipVerifier: address,
    members: address,
    anonymousVoting: address,
  })
  .strict();

/** Writes `deployment` as JSON (atomically, so another process never reads half of it). */
export function saveDeployment(path: string, deployment: NexusDeployment): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...deployment, fromBlock: deployment.fromBlock.toString() }, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Reads a deployment written by {@link saveDeployment} (e.g. by `cipher-nexus chain serve`), checking every field. */
export function loadDeployment(path: string): NexusDeployment {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InvalidInputError('CHAIN_DEPLOYMENT_MISSING', `no deployment file at '${path}'; start a development chain with \`cipher-nexus chain serve\` or pass --deployment FILE`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidInputError('CHAIN_DEPLOYMENT_INVALID', `'${path}' is not JSON; it should be the deployment file \`cipher-nexus chain serve\` writes`);
  }
  const parsed = DeploymentFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError('CHAIN_DEPLOYMENT_INVALID', `deployment file '${path}', field '${issue.path.join('.')}': ${issue.message}`);
  }
  return { ...parsed.data, fromBlock: BigInt(parsed.data.fromBlock) };
}
