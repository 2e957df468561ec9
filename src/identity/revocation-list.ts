import { z } from 'zod';
import { readKitFile } from './kit-file.js';

/**
 * The participants a job no longer trusts, `server/revoked.json`. Certificates are not revoked
 * through a CRL: the per-job CA's key is gone after provisioning, so the coordinator checks this
 * list itself on every connection and message.
 */

/** One revoked participant: the certificate it held and when it was revoked. */
export const RevokedParticipantSchema = z
  .object({
    participantId: z.string().min(1),
    certificateFingerprint: z.string().regex(/^[0-9a-f]{64}$/),
    revokedAt: z.string().datetime(),
  })
  .strict();

/** The revocation list file. */
export const RevocationListSchema = z
  .object({
    version: z.literal(1),
    entries: z.array(RevokedParticipantSchema),
  })
  .strict();

/** One revoked participant. */
export type RevokedParticipant = z.output<typeof RevokedParticipantSchema>;
/** The revocation list. */
export type RevocationList = z.output<typeof RevocationListSchema>;

/** Reads and checks a revocation list; a missing list is an error, not an empty one, so deleting the file cannot reinstate anybody. */
export function loadRevocationList(file: string): RevocationList {
  return readKitFile(file, 'revocation list', RevocationListSchema, 'restore it from the provisioning output; the revocations in it are lost otherwise');
}
