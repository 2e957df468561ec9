import { CipherNexusError } from '../core/errors.js';

/** An update the round refused, with the rule it broke. */
export class UpdateRejectedError extends CipherNexusError {}

/** A round that cannot be finalised (quorum not met, wrong state). */
export class RoundError extends CipherNexusError {}
