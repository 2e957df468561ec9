import { ClientSecAgg, ServerSecAgg, createRoundConfig, generateIdentity, quantisationStep } from '../../privacy/secagg/index.js';

/**
 * What a SecAgg+ coordinator sees of a round (Bell et al. 2020 over Bonawitz et al. 2017): it runs the
 * project's real ClientSecAgg for every participant and ServerSecAgg for itself, exchanging only the
 * serialised messages, and keeps what a curious coordinator could keep: every masked input as it
 * arrived, and the unmasked sum at the end.
 */

/** Parameters of `secAggView`. */
export interface SecAggViewParameters {
  /** Each participant's contribution (its weighted delta, as SecAggParticipant masks it), in participant order. */
  contributions: readonly Float32Array[];
  /** Quantisation clip per coordinate; 1 as a job's `privacy.secagg: true` sets it. */
  clip?: number;
}

/** The coordinator's view of one SecAgg+ round. */
export interface SecAggView {
  /**
   * Each participant's masked vector y_u read as one quantised input (x = q · step − clip): what the
   * coordinator would decode if it were the update. A uniform word spans [−clip, (2 maxSummands − 1) clip].
   */
  masked: Float32Array[];
  /** Σ of the contributions, dequantised: all the protocol reveals. */
  sum: Float32Array;
  summands: number;
}

/** Runs one real SecAgg+ round in process and returns what its coordinator saw. */
export function secAggView(parameters: SecAggViewParameters): SecAggView {
  const { contributions } = parameters;
  const ids = contributions.map((_, i) => `p${String(i).padStart(2, '0')}`);
  const length = contributions[0].length;
  const config = createRoundConfig({ participants: ids, vectorLength: length, clip: parameters.clip ?? 1 });
  const identities = new Map(ids.map((id) => [id, generateIdentity()]));
  const identityKeys = new Map([...identities].map(([id, pair]) => [id, pair.publicKey]));
  const clients = new Map(ids.map((id) => [id, new ClientSecAgg({ id, config, identity: identities.get(id)!.privateKey, identityKeys })]));
  const server = new ServerSecAgg({ config, identityKeys });
  const kept = new Map<string, Uint8Array>();

  // The stages in the order of Bonawitz et al. 2017 Fig. 4 with SecAgg+'s share confirmation; nobody drops out.
  for (const id of ids) server.receiveAdvertiseKeys(clients.get(id)!.advertiseKeys());
  for (const [id, message] of server.closeAdvertiseKeys()) server.receiveShareKeys(clients.get(id)!.shareKeys(message));
  for (const [id, message] of server.closeShareKeys()) server.receiveShareConfirmation(clients.get(id)!.confirmShares(message));
  for (const [id, message] of server.closeShareConfirmation()) {
    const bytes = clients.get(id)!.maskedInput(message, contributions[ids.indexOf(id)]);
    kept.set(id, bytes.slice());
    server.receiveMaskedInput(bytes);
  }
  for (const [id, message] of server.closeMaskedInputCollection()) server.receiveConsistencySignature(clients.get(id)!.consistencyCheck(message));
  for (const [id, message] of server.closeConsistencyCheck()) server.receiveUnmaskShares(clients.get(id)!.unmask(message));
  const { sum, summands } = server.finish();

  const step = quantisationStep(config.quantisation);
  const masked = ids.map((id) => {
    // The wire format ends with the masked vector as `length` little-endian uint32 words (secagg/messages.ts).
    const bytes = kept.get(id)!;
    const words = new DataView(bytes.buffer, bytes.byteOffset + bytes.byteLength - 4 * length, 4 * length);
    return Float32Array.from({ length }, (_, k) => words.getUint32(4 * k, true) * step - config.quantisation.clip);
  });
  return { masked, sum: Float32Array.from(sum), summands: summands.length };
}
