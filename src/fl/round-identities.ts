import { UpdateRejectedError } from './round-errors.js';

/** What a participant checks a round's identity keys against: its job's roster, and whether ids are anonymous. */
export interface RoundIdentityCheck {
  /** Every participant's Ed25519 signing key (raw 32 bytes) by id, from the CA-signed roster in the participant's kit. */
  roster: ReadonlyMap<string, Uint8Array>;
  /** In a privacy.anonymous job each connection has a random id and signs with the members' shared key. */
  anonymous: boolean;
}

/**
 * Refuses a round whose identity keys (the keys SecAgg+ key bundles and CKKS round keys are signed with, as the
 * coordinator hands them out) name a participant the roster lacks, or a key the roster does not give that participant:
 * a coordinator cannot fill a round with participants it plays itself. In an anonymous job the ids are the
 * coordinator's, so only the keys are checked.
 */
export function checkRoundIdentities(identityKeys: Readonly<Record<string, string>>, check: RoundIdentityCheck): void {
  const known = [...check.roster.values()].map((key) => Buffer.from(key));
  for (const [id, text] of Object.entries(identityKeys)) {
    const key = Buffer.from(text, 'base64');
    const listed = check.roster.get(id);
    const ok = check.anonymous ? known.some((k) => k.equals(key)) : listed !== undefined && Buffer.from(listed).equals(key);
    if (!ok) {
      throw new UpdateRejectedError(
        'ROUND_IDENTITY_UNKNOWN',
        check.anonymous
          ? `the round names '${id}' with a signing key no member of this job's roster holds; this participant takes no part in a round it cannot check`
          : `the round names '${id}' with a signing key that this job's CA-signed roster does not give it; this participant takes no part in a round with participants it cannot check`,
      );
    }
  }
}
