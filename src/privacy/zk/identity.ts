// A member's anonymous identity, after Semaphore V4 (one secret scalar; commitment and nullifier are Poseidon hashes
// of it): the commitment goes into the tree when the member stakes; the secret never leaves the member.
import { randomBytes } from 'node:crypto';
import { fieldElement, SCALAR_FIELD } from './field.js';
import { poseidon } from './poseidon.js';

/** An identity: a secret field element and its public commitment Poseidon(secret). */
export type Identity = { readonly secret: bigint; readonly commitment: bigint };

/** Creates an identity from 64 random bytes reduced mod r (the bias of reducing 512 bits is below 2^-250), or from a given secret. */
export function createIdentity(secret?: bigint): Identity {
  // JavaScript cannot zeroise a bigint; the random bytes it came from are zeroed at least.
  let value = secret;
  if (value === undefined) {
    const bytes = randomBytes(64);
    value = BigInt(`0x${bytes.toString('hex')}`) % SCALAR_FIELD;
    bytes.fill(0);
  }
  fieldElement(value, 'secret');
  return { secret: value, commitment: poseidon([value]) };
}

/** The nullifier an identity reveals in `scope`: Poseidon(secret, scope), the circuit's output. */
export function nullifierOf(identity: Pick<Identity, 'secret'>, scope: bigint): bigint {
  return poseidon([identity.secret, fieldElement(scope, 'scope')]);
}
