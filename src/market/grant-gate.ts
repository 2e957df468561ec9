import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TypedDataDomain } from 'viem';
import { z } from 'zod';
import { parseWithSchema } from '../core/index.js';
import { AccessGrantError, verifyAccessGrant, type AccessGrant, type SignedAccessGrant } from './access-grant.js';

/** The jobs an owner's node has served under each grant: its own count, which no coordinator can reset. */
export interface GrantUsage {
  /** Ids of the jobs admitted under the grant of this fill, in admission order. */
  jobsOf(fillId: bigint): string[];
  /** Records that `jobId` was admitted under the grant of `fillId`. */
  record(fillId: bigint, jobId: string): void;
}

const UsageSchema = z.record(z.string().regex(/^\d+$/), z.array(z.string()));

/** Grant usage in a JSON file on the owner's node, replaced atomically (write, fsync, rename) on every admission. */
export class FileGrantUsage implements GrantUsage {
  private readonly jobs: Map<string, string[]>;

  constructor(private readonly file: string) {
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let stored: Record<string, string[]> = {};
    if (text !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new AccessGrantError('GRANT_USAGE_INVALID', `${file} is not JSON; restore it from a backup: it records which jobs each grant admitted`, { file });
      }
      stored = parseWithSchema(json, UsageSchema, 'grant usage file', { code: 'GRANT_USAGE_INVALID', source: file });
    }
    this.jobs = new Map(Object.entries(stored));
  }

  jobsOf(fillId: bigint): string[] {
    return [...(this.jobs.get(fillId.toString()) ?? [])];
  }

  record(fillId: bigint, jobId: string): void {
    const next = new Map(this.jobs);
    next.set(fillId.toString(), [...this.jobsOf(fillId), jobId]);
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(Object.fromEntries(next), null, 2));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    // Only after the file holds it: a crash in between leaves the job unadmitted, never admitted twice.
    this.jobs.set(fillId.toString(), next.get(fillId.toString()) as string[]);
  }
}

/** What the gate needs to know about the market and the asset it guards. */
export interface GrantGateOptions {
  /** The escrow's EIP-712 domain. */
  domain: TypedDataDomain;
  /** The market operator's address: grants must be signed by it. */
  issuer: `0x${string}`;
  /** The asset this node serves. */
  assetId: bigint;
  usage: GrantUsage;
  /** True when the fill's escrow was revoked or refunded, read from the chain. */
  revoked(fillId: bigint): Promise<boolean>;
  /** Unix seconds. */
  now(): number;
}

/** A job the gate let in: the grant and how many jobs it still admits after this one. */
export interface Admission {
  grant: AccessGrant;
  remaining: number;
}

/**
 * The owner's agent's check before it trains for anyone: a job is served only under a valid,
 * unrevoked, unspent grant for this asset and exactly this job configuration. A job admitted
 * before (a coordinator restart) is admitted again without spending another unit.
 */
export class GrantGate {
  constructor(private readonly options: GrantGateOptions) {}

  /** Admits `jobId` with configuration hash `configHash` under `signed`, or throws `AccessGrantError` naming the failed check. */
  async admit(signed: SignedAccessGrant, jobId: string, configHash: string): Promise<Admission> {
    const { domain, issuer, assetId, usage } = this.options;
    const grant = await verifyAccessGrant(domain, signed, issuer, this.options.now());
    const fill = grant.fillId.toString();
    if (grant.assetId !== assetId) {
      throw new AccessGrantError('GRANT_WRONG_ASSET', `the grant of fill ${fill} is for asset ${grant.assetId}, not asset ${assetId} this node serves`, { fillId: fill });
    }
    if (grant.jobConfigHash.toLowerCase() !== configHash.toLowerCase()) {
      throw new AccessGrantError('GRANT_CONFIG_MISMATCH', `job '${jobId}' is not the job the grant of fill ${fill} was bought for (configuration hash ${configHash}, granted ${grant.jobConfigHash}); run the configuration that was bought`, {
        fillId: fill,
      });
    }
    if (await this.options.revoked(grant.fillId)) {
      throw new AccessGrantError('GRANT_REVOKED', `the grant of fill ${fill} was revoked and its escrow refunded; it admits no job`, { fillId: fill });
    }
    const jobs = usage.jobsOf(grant.fillId);
    if (jobs.includes(jobId)) return { grant, remaining: grant.units - jobs.length };
    if (jobs.length >= grant.units) {
      throw new AccessGrantError('GRANT_SPENT', `the grant of fill ${fill} admitted its ${grant.units} job(s) already (${jobs.join(', ')}); buy more access units`, { fillId: fill, jobs });
    }
    usage.record(grant.fillId, jobId);
    return { grant, remaining: grant.units - jobs.length - 1 };
  }
}
