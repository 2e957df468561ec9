import { performance } from 'node:perf_hooks';
import { Rng } from '../../core/index.js';
import { ClientSecAgg } from './client.js';
import { createRoundConfig, type RoundConfig } from './config.js';
import { SecAggAbortError } from './errors.js';
import { generateIdentity, type IdentityKeyPair } from './keys.js';
import type { ClientPolicy } from './policy.js';
import { ServerSecAgg, type SecAggResult } from './server.js';

/** After which stage a client disappears in a simulated run. */
export type DropoutStage = 'afterAdvertiseKeys' | 'afterShareKeys' | 'afterConfirmShares' | 'afterMaskedInput' | 'afterConsistencyCheck';

/** One client's update: floats to be quantised, or values already in Z_(2^32). */
export type SecAggInput = Float32Array | Uint32Array;

/** Updates produced on demand, so that a large simulated run need not hold every update at once. */
export interface SecAggInputSource {
  ids: readonly string[];
  vectorLength: number;
  get(id: string): SecAggInput;
}

/** Parameters of `runSecureAggregation`. */
export interface RunSecureAggregationParameters {
  /** One update per client (ids `c0`, `c1`, … for an array). */
  inputs: readonly SecAggInput[] | ReadonlyMap<string, SecAggInput> | SecAggInputSource;
  /** Quantisation clip: each coordinate is clipped to [-clip, clip]. Default 1. */
  clip?: number;
  /** Fraction of clients assumed to collude with the coordinator (default DEFAULT_GAMMA); see createRoundConfig. */
  gamma?: number;
  /** Fraction of clients assumed to drop out (default DEFAULT_DELTA). */
  delta?: number;
  /** Shamir threshold t; default the least that is secure for the degree (params.ts). */
  threshold?: number;
  /** Share holders k each client draws; default the least that gives 2^-40 security and correctness for gamma and delta. */
  degree?: number;
  /** Fewest inputs the sum may hold (the DP noise floor); default the threshold. */
  minSummands?: number;
  /** Clients that vanish after each round: explicit ids, or a fraction of all n drawn from the still-live clients. */
  dropouts?: Partial<Record<DropoutStage, readonly string[] | number>>;
  /** Seed of the draw of fraction drop-outs (simulation only). */
  seed?: number;
  /** Every client's own policy (default DEFAULT_CLIENT_POLICY); a config below it makes the run throw SECAGG_CONFIG_REFUSED. */
  clientPolicy?: Partial<ClientPolicy>;
}

/** Measured costs of a run. */
export interface SecAggCosts {
  /** Mean over the clients whose input counted of the time spent in their own protocol steps, ms. */
  clientMs: number;
  clientMsMax: number;
  /** Time spent in the server's protocol steps, ms. */
  serverMs: number;
  /** Mean serialised bytes sent by a client whose masked input counted. */
  bytesPerClient: number;
  bytesPerClientMax: number;
  /** Total serialised bytes the server sent. */
  serverBytesSent: number;
}

/** Result of a simulated round: the server's result plus costs and the clients that aborted on their own. */
export interface RunSecureAggregationResult extends SecAggResult {
  costs: SecAggCosts;
  config: RoundConfig;
  clientAborts: { id: string; code: string; message: string }[];
}

function inputSource(inputs: RunSecureAggregationParameters['inputs']): SecAggInputSource {
  if (Array.isArray(inputs)) {
    const list = inputs as readonly SecAggInput[];
    const byId = new Map(list.map((x, i) => [`c${i}`, x]));
    return { ids: [...byId.keys()], vectorLength: list[0]?.length ?? 0, get: (id) => byId.get(id)! };
  }
  if (inputs instanceof Map) {
    const map = inputs as ReadonlyMap<string, SecAggInput>;
    return { ids: [...map.keys()], vectorLength: map.values().next().value?.length ?? 0, get: (id) => map.get(id)! };
  }
  return inputs as SecAggInputSource;
}

/**
 * Runs one SecAgg+ round in process — clients and server exchanging only serialised messages — with
 * simulated drop-outs, and measures each party's time and bytes. For tests and benchmarks; a
 * deployment drives ClientSecAgg and ServerSecAgg over its own transport in the same order.
 */
export function runSecureAggregation(parameters: RunSecureAggregationParameters): RunSecureAggregationResult {
  const source = inputSource(parameters.inputs);
  const config = createRoundConfig({
    participants: source.ids,
    vectorLength: source.vectorLength,
    clip: parameters.clip ?? 1,
    gamma: parameters.gamma,
    delta: parameters.delta,
    threshold: parameters.threshold,
    degree: parameters.degree,
    minSummands: parameters.minSummands,
  });
  // Registration happens before any round: not counted in the costs.
  const identities = new Map<string, IdentityKeyPair>(source.ids.map((id) => [id, generateIdentity()]));
  const identityKeys = new Map([...identities].map(([id, pair]) => [id, pair.publicKey]));
  const clients = new Map(
    source.ids.map((id) => [id, new ClientSecAgg({ id, config, identity: identities.get(id)!.privateKey, identityKeys, policy: parameters.clientPolicy })]),
  );
  const clientMs = new Map(source.ids.map((id) => [id, 0]));
  const bytesSent = new Map(source.ids.map((id) => [id, 0]));
  const clientAborts: RunSecureAggregationResult['clientAborts'] = [];
  let serverMs = 0;
  let serverBytesSent = 0;
  const server = timed(() => new ServerSecAgg({ config, identityKeys }), (ms) => (serverMs += ms));

  const rng = new Rng(parameters.seed ?? 1);
  const live = new Set(source.ids);
  const drop = (stage: DropoutStage): void => {
    const spec = parameters.dropouts?.[stage];
    if (spec === undefined) return;
    const chosen = typeof spec === 'number' ? rng.shuffle([...live]).slice(0, Math.round(spec * source.ids.length)) : spec;
    for (const id of chosen) live.delete(id);
  };
  /** One client step: its time and bytes are counted, a self-abort turns it into a drop-out. */
  const clientStep = (id: string, step: (client: ClientSecAgg) => Uint8Array): Uint8Array | undefined => {
    const start = performance.now();
    try {
      const out = step(clients.get(id)!);
      bytesSent.set(id, bytesSent.get(id)! + out.length);
      return out;
    } catch (error) {
      if (!(error instanceof SecAggAbortError)) throw error;
      clientAborts.push({ id, code: error.code, message: error.message });
      live.delete(id);
      return undefined;
    } finally {
      clientMs.set(id, clientMs.get(id)! + performance.now() - start);
    }
  };
  const serverStep = <T>(step: () => T): T => timed(step, (ms) => (serverMs += ms));
  const deliver = (replies: Map<string, Uint8Array>): Map<string, Uint8Array> => {
    for (const [id, bytes] of replies) if (live.has(id)) serverBytesSent += bytes.length;
    return replies;
  };
  /**
   * Every live client that got a server message answers it; its reply goes straight to the server.
   * The update is fetched before the client's clock starts: producing it is training, not protocol.
   */
  const round = (
    inbox: Map<string, Uint8Array>,
    step: (client: ClientSecAgg, message: Uint8Array, input: SecAggInput | undefined) => Uint8Array,
    receive: (bytes: Uint8Array) => void,
    withInput = false,
  ): void => {
    for (const id of [...live]) {
      const message = inbox.get(id);
      if (message === undefined) {
        live.delete(id);
        continue;
      }
      const input = withInput ? source.get(id) : undefined;
      const reply = clientStep(id, (client) => step(client, message, input));
      if (reply) serverStep(() => receive(reply));
    }
  };

  // Round 0 AdvertiseKeys.
  for (const id of source.ids) {
    const reply = clientStep(id, (client) => client.advertiseKeys());
    if (reply) serverStep(() => server.receiveAdvertiseKeys(reply));
  }
  drop('afterAdvertiseKeys');
  const neighbourKeys = deliver(serverStep(() => server.closeAdvertiseKeys()));
  // Round 1 ShareKeys.
  round(neighbourKeys, (client, message) => client.shareKeys(message), (bytes) => server.receiveShareKeys(bytes));
  drop('afterShareKeys');
  const forwarded = deliver(serverStep(() => server.closeShareKeys()));
  // Share confirmation.
  round(forwarded, (client, message) => client.confirmShares(message), (bytes) => server.receiveShareConfirmation(bytes));
  drop('afterConfirmShares');
  const confirmed = deliver(serverStep(() => server.closeShareConfirmation()));
  // Round 2 MaskedInputCollection.
  round(confirmed, (client, message, input) => client.maskedInput(message, input!), (bytes) => server.receiveMaskedInput(bytes), true);
  drop('afterMaskedInput');
  const survivors = deliver(serverStep(() => server.closeMaskedInputCollection()));
  // Round 3 ConsistencyCheck.
  round(survivors, (client, message) => client.consistencyCheck(message), (bytes) => server.receiveConsistencySignature(bytes));
  drop('afterConsistencyCheck');
  const proof = deliver(serverStep(() => server.closeConsistencyCheck()));
  // Round 4 Unmasking.
  round(proof, (client, message) => client.unmask(message), (bytes) => server.receiveUnmaskShares(bytes));
  const result = serverStep(() => server.finish());

  const times = result.summands.map((id) => clientMs.get(id)!);
  const sent = result.summands.map((id) => bytesSent.get(id)!);
  return {
    ...result,
    config,
    clientAborts,
    costs: {
      clientMs: times.reduce((a, b) => a + b, 0) / times.length,
      clientMsMax: Math.max(...times),
      serverMs,
      bytesPerClient: sent.reduce((a, b) => a + b, 0) / sent.length,
      bytesPerClientMax: Math.max(...sent),
      serverBytesSent,
    },
  };
}

function timed<T>(step: () => T, record: (ms: number) => void): T {
  const start = performance.now();
  try {
    return step();
  } finally {
    record(performance.now() - start);
  }
}
