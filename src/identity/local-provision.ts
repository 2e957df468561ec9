import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseWithSchema } from '../core/index.js';
import { assembleParticipantKit } from './certificate-bundle.js';
import { generateParticipantKeys, participantKeyPath } from './participant-keys.js';
import { provision, type ProvisionParameters, type ProvisionResult } from './provision.js';
import { ParticipantIdSchema, participantKitPath } from './startup-kit.js';

/**
 * Every participant's keygen, the operator's provision and every participant's kit assembly, in one
 * process: for tests, demos and benches, where one party legitimately holds every key. A real job
 * never uses it, since whoever runs it could impersonate any participant.
 */

const ParticipantIdsSchema = z.object({
  participants: z
    .array(ParticipantIdSchema)
    .min(1)
    .superRefine((ids, ctx) => {
      const seen = new Set<string>();
      ids.forEach((id, index) => {
        if (seen.has(id)) ctx.addIssue({ code: 'custom', path: [index], message: `'${id}' is listed twice; participant ids must be unique` });
        seen.add(id);
      });
    }),
});

/** Parameters of `provisionWithLocalKeys`: those of `provision`, with participant ids instead of request files. */
export type ProvisionWithLocalKeysParameters = Omit<ProvisionParameters, 'requests'> & { participants: readonly string[] };

/** What `provisionWithLocalKeys` wrote: what `provision` wrote, and each participant's assembled kit. */
export interface ProvisionWithLocalKeysResult extends ProvisionResult {
  /** Kit file of each participant, by id, in the order given: `participants/<id>/kit.json` under `outDir`. */
  participantKitFiles: ReadonlyMap<string, string>;
}

/**
 * For tests, demos and benches only: generates every participant's keys, provisions the job from
 * their requests, and assembles each participant's kit at `participantKitPath(outDir, id)`, so that
 * `outDir` holds every party's private keys.
 */
export async function provisionWithLocalKeys(parameters: ProvisionWithLocalKeysParameters): Promise<ProvisionWithLocalKeysResult> {
  const { participants, ...rest } = parameters;
  const ids = parseWithSchema({ participants }, ParticipantIdsSchema, 'provision', { code: 'PROVISION_INVALID' }).participants;
  // The keys live here only until their kits are assembled.
  const keysDir = mkdtempSync(join(tmpdir(), 'cipher-nexus-keys-'));
  try {
    const requests: string[] = [];
    for (const participantId of ids) requests.push((await generateParticipantKeys({ participantId, outDir: keysDir })).requestFile);
    const result = await provision({ ...rest, requests });
    const participantKitFiles = new Map<string, string>();
    for (const [id, bundleFile] of result.certificateBundleFiles) {
      const { kitFile } = assembleParticipantKit({ keyFile: participantKeyPath(keysDir, id), bundleFile, outFile: participantKitPath(result.outDir, id) });
      participantKitFiles.set(id, kitFile);
    }
    return { ...result, participantKitFiles };
  } finally {
    rmSync(keysDir, { recursive: true, force: true });
  }
}
