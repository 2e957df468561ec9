import { z } from 'zod';
import { CipherNexusError } from '../core/errors.js';

/** A protocol message that cannot be parsed or does not match its schema; the peer gets a 400-class refusal. */
export class ProtocolError extends CipherNexusError {
  /** HTTP status the refusal maps to. */
  readonly httpStatus = 400;
}

const MAGIC = 0xc7;
/** The wire protocol's version, carried in the second byte of every message; peers of another version are refused. */
export const PROTOCOL_VERSION = 1;
const VERSION = PROTOCOL_VERSION;

/** A message from a peer that speaks another protocol version: both versions named, the connection is closed. */
export class ProtocolVersionError extends ProtocolError {
  constructor(
    /** The version the peer's message carries. */
    readonly peer: number,
  ) {
    super(
      'MESSAGE_VERSION',
      `the peer speaks Cipher Nexus protocol version ${peer}, this side speaks version ${VERSION}; run releases of the same protocol version on the coordinator and every participant`,
      { peer, own: VERSION },
    );
  }
}
/** Largest JSON header a message may carry; a header is metadata, never a model. */
// A SecAgg+ task carries the round's participant list and identity keys: at 1,000 participants about 60 KiB.
export const MAX_HEADER_BYTES = 256 * 1024;

const id = z.string().min(1).max(128);
/**
 * A `privacy.anonymous` job's membership proof (base64url; 384 bytes when well formed): on `hello` it admits the
 * connection, on `update` it vouches for that update. Its length is judged by the verifier, which names the fault.
 */
const membershipProof = z.string().max(1024).regex(/^[A-Za-z0-9_-]*$/).optional();
const resources = z
  .object({
    cpuCores: z.number().nonnegative().max(4096),
    memoryMb: z.number().nonnegative().max(1 << 30),
    gpuCount: z.number().int().nonnegative().max(1024).optional(),
    cpuLoad: z.number().min(0).max(1).optional(),
    memoryLoad: z.number().min(0).max(1).optional(),
    bandwidthMbps: z.number().nonnegative().max(1e7).optional(),
  })
  .strict();

const plan = z
  .object({
    epochs: z.number().int().positive().max(1000),
    batchSize: z.number().int().positive().max(1 << 20),
    learningRate: z.number().positive().max(100),
    optimizer: z.enum(['sgd', 'adam', 'momentum']),
    momentum: z.number().min(0).max(1),
    proximalMu: z.number().min(0).max(1e6),
  })
  .strict();

const column = z.union([z.string().min(1).max(256), z.number().int().nonnegative()]);

/** Differential privacy a participant applies itself (DP-SGD or local DP). */
const privacy = z
  .object({
    mode: z.enum(['sample', 'local']),
    clipNorm: z.number().positive().finite(),
    noiseMultiplier: z.number().positive().max(1000),
    noise: z.enum(['secure', 'seeded-insecure']),
    samplingRate: z.number().gt(0).max(1).optional(),
    steps: z.number().int().positive().max(1e9).optional(),
    /** Fixed-point step of the exact noise (a power of two); absent: the default for the clip norm and model size. */
    gridStep: z.number().positive().finite().optional(),
  })
  .strict();

const fraction = z.number().gt(0).lte(1);
const compression = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z.object({ kind: z.literal('topk'), fraction, errorFeedback: z.boolean() }).strict(),
  z.object({ kind: z.literal('q8') }).strict(),
  z.object({ kind: z.literal('topk-q8'), fraction, errorFeedback: z.boolean() }).strict(),
]);

const identityKeys = z.record(z.string().max(64), z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'a 32-byte key in base64'));

/** How a participant protects this round's update: plain, SecAgg+ with the round's public configuration, multi-party CKKS, or encrypted to an attested enclave. */
const protection = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z
    .object({
      kind: z.literal('ckks'),
      preset: z.enum(['n8192', 'n16384']),
      committee: z.array(id).min(1).max(16),
      minContributors: z.number().int().min(1),
      weights: z.record(id, z.number().int().positive().max(1e12)),
      identityKeys,
    })
    .strict(),
  z
    .object({
      kind: z.literal('tee'),
      platform: z.literal('simulated'),
      evidence: z.string().max(96 * 1024).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
      publicKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'a 32-byte key in base64'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('secagg'),
      // Checked in full by the participant's SecAgg+ client (parseRoundConfig) before it sends anything.
      config: z.record(z.string(), z.unknown()),
      identityKeys,
      weighting: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('examples'), weight: z.number().int().positive().max(1e12), totalWeight: z.number().int().positive().max(1e15) }).strict(),
        z
          .object({
            kind: z.literal('dp'),
            clipNorm: z.number().positive().finite(),
            noiseMultiplier: z.number().positive().max(1000),
            noise: z.enum(['secure', 'seeded-insecure']),
            minSummands: z.number().int().positive(),
            gridStep: z.number().positive().finite().optional(),
          })
          .strict(),
      ]),
    })
    .strict(),
]);

/** Stages of a protection protocol: what the coordinator asks for next, and what a participant answers. */
const coordinatorStage = z.enum(['shareKeys', 'confirmShares', 'maskedInput', 'consistencyCheck', 'unmask', 'identities', 'commitments', 'publicShares', 'contribution', 'decrypt', 'openShares']);
const participantStage = z.enum(['advertiseKeys', 'shareKeys', 'confirmShares', 'consistencyCheck', 'unmask', 'identity', 'commitment', 'publicShare', 'decryptionShares', 'opened', 'refuse']);
const protocol = z.enum(['secagg', 'ckks', 'tee']);

/** How a participant reads its local CSV so that its features match the job's model. */
export const ParticipantDataSchema = z
  .object({
    labelColumn: column,
    features: z.array(column).max(1 << 16).optional(),
    header: z.union([z.boolean(), z.literal('auto')]),
    delimiter: z.string().length(1),
    featureShape: z.array(z.number().int().positive()).max(8).optional(),
    scale: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('none') }).strict(),
      z.object({ kind: z.literal('divide'), by: z.number().positive() }).strict(),
      z.object({ kind: z.literal('minmax') }).strict(),
    ]),
    stats: z.object({ min: z.array(z.number()), max: z.array(z.number()) }).strict().optional(),
    labels: z.array(z.string()).optional(),
    numClasses: z.number().int().min(2).max(1 << 16),
  })
  .strict();

/** Header schemas of every message kind, by direction. The body (model weights) travels as raw float32 bytes. */
export const ClientMessages = {
  /**
   * First message on a connection: who the client is and what it brings. A participant that has not
   * read its data yet (it needs the welcome's rules for that) leaves out `numExamples` and says hello
   * again once it knows; only then does it join the job.
   */
  hello: z.object({ numExamples: z.number().int().positive().max(1e12).optional(), resources, agent: z.string().max(64), membershipProof }).strict(),
  heartbeat: z.object({ resources }).strict(),
  /** The task of this round arrived (it frees the coordinator's send slot for the next participant). */
  received: z.object({ roundId: id }).strict(),
  /** A trained update is ready; the coordinator answers `pull` when it has room for it (or `ack` if it already has it). */
  offer: z.object({ roundId: id, round: z.number().int().positive(), bytes: z.number().int().nonnegative().max(2 ** 32) }).strict(),
  /**
   * A trained update, sent after `pull`; the body is read by `encoding` (float32 weights, a compressed
   * delta, a SecAgg+ masked vector), `sha256` is the body's digest. `loss` only in plain rounds without DP.
   */
  update: z
    .object({
      roundId: id,
      round: z.number().int().positive(),
      numExamples: z.number().int().positive().max(1e12),
      loss: z.number().finite().optional(),
      seconds: z.number().nonnegative().finite(),
      encoding: z.enum(['float32', 'compressed', 'secagg', 'ckks', 'tee']),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      membershipProof,
    })
    .strict(),
  /** A message of the round's protection protocol (SecAgg+ keys, shares, signatures); the body is the protocol's bytes. */
  stage: z.object({ roundId: id, protocol, stage: participantStage }).strict(),
  /** The client could not train the task (data error, out of memory). */
  failed: z.object({ roundId: id, reason: z.string().max(1000) }).strict(),
  /** The participant will not serve this job (e.g. a data owner's agent finds no valid access grant for it), and why; it then disconnects. */
  refuse: z.object({ code: z.string().regex(/^[A-Z0-9_]{1,64}$/), message: z.string().max(2000) }).strict(),
} as const;

export const ServerMessages = {
  /** The job a participant joined: its model and how to read local data. */
  welcome: z
    .object({
      participantId: id,
      jobId: id,
      spec: z.record(z.string(), z.unknown()),
      data: ParticipantDataSchema,
      heartbeatSeconds: z.number().positive(),
      /** A job bought on the data market: the buyer's access grant and the job configuration it names, for the data owner's agent to check before it reads a row. */
      market: z.object({ grant: z.unknown(), config: z.record(z.string(), z.unknown()) }).strict().optional(),
    })
    .strict(),
  /** Train this round; the body is the global model's float32 weights. */
  task: z
    .object({
      roundId: id,
      round: z.number().int().positive(),
      modelVersion: z.number().int().positive(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      plan,
      seed: z.number().int().nonnegative().max(0xffffffff),
      deadline: z.number().int().nonnegative(),
      privacy: privacy.optional(),
      compression: compression.optional(),
      protection,
      /** Whether to report the local training loss (plain rounds without DP only). */
      releaseLoss: z.boolean(),
    })
    .strict(),
  /** The next step of the round's protection protocol; the body is the protocol's bytes for this participant. */
  stage: z.object({ roundId: id, protocol, stage: coordinatorStage }).strict(),
  /** Send the offered update of this round now. */
  pull: z.object({ roundId: id }).strict(),
  ack: z.object({ roundId: id, outcome: z.enum(['accepted', 'duplicate']) }).strict(),
  error: z.object({ code: z.string().max(64), message: z.string().max(2000) }).strict(),
  done: z.object({ jobId: id, status: z.enum(['completed', 'failed']), accuracy: z.number().optional() }).strict(),
} as const;

export type ClientKind = keyof typeof ClientMessages;
export type ServerKind = keyof typeof ServerMessages;
export type ClientHeader<K extends ClientKind> = z.output<(typeof ClientMessages)[K]>;
export type ServerHeader<K extends ServerKind> = z.output<(typeof ServerMessages)[K]>;

/** A decoded message of one direction: its kind, its checked header and its raw body. */
export type Message<S extends Record<string, z.ZodTypeAny>> = {
  [K in keyof S]: { kind: K; header: z.output<S[K]>; body: Uint8Array };
}[keyof S];

/**
 * A message as its two parts, head (magic, version, kind, header length, header JSON) and body, so a
 * large body (a model sent to a thousand participants) is written from where it lies, not copied
 * into each participant's message. `at` is as for encodeMessage.
 */
export function encodeMessageParts(kind: string, header: unknown, body: Uint8Array = new Uint8Array(0), at = 0): [Uint8Array, Uint8Array] {
  const kindBytes = Buffer.from(kind, 'utf8');
  const text = JSON.stringify(header);
  // Spaces after the JSON (which JSON allows) put the body on a 4-byte boundary of the frame the
  // message travels in, so the receiver reads float32 weights where they arrived instead of copying them.
  const pad = (4 - ((at + 7 + kindBytes.length + Buffer.byteLength(text, 'utf8')) % 4)) % 4;
  const json = Buffer.from(text + ' '.repeat(pad), 'utf8');
  const head = new Uint8Array(2 + 1 + kindBytes.length + 4 + json.length);
  head[0] = MAGIC;
  head[1] = VERSION;
  head[2] = kindBytes.length;
  head.set(kindBytes, 3);
  new DataView(head.buffer).setUint32(3 + kindBytes.length, json.length);
  head.set(json, 7 + kindBytes.length);
  return [head, body];
}

/**
 * Encodes kind, header and body as one binary message: magic, version, kind, header length, header
 * JSON, body. `at` is where the message will start in the frame that carries it (signedFramePayloadOffset):
 * the body then starts 4-byte aligned in that frame.
 */
export function encodeMessage(kind: string, header: unknown, body: Uint8Array = new Uint8Array(0), at = 0): Uint8Array {
  const [head] = encodeMessageParts(kind, header, body, at);
  const out = new Uint8Array(head.byteLength + body.byteLength);
  out.set(head);
  out.set(body, head.byteLength);
  return out;
}

/** Parses and schema-checks a message against one direction's schemas; throws ProtocolError on anything else. */
export function decodeMessage<S extends Record<string, z.ZodTypeAny>>(bytes: Uint8Array, schemas: S): Message<S> {
  if (bytes.byteLength < 7 || bytes[0] !== MAGIC) throw new ProtocolError('MESSAGE_MALFORMED', 'not a Cipher Nexus protocol message (bad magic or too short)');
  if (bytes[1] !== VERSION) throw new ProtocolVersionError(bytes[1]);
  const kindLength = bytes[2];
  if (bytes.byteLength < 7 + kindLength) throw new ProtocolError('MESSAGE_MALFORMED', 'message truncated inside its kind');
  const kind = Buffer.from(bytes.subarray(3, 3 + kindLength)).toString('utf8');
  if (!Object.hasOwn(schemas, kind)) throw new ProtocolError('MESSAGE_KIND_UNKNOWN', `unknown message kind '${kind.slice(0, 40)}'; expected one of ${Object.keys(schemas).join(', ')}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(3 + kindLength);
  if (headerLength > MAX_HEADER_BYTES) throw new ProtocolError('MESSAGE_MALFORMED', `a message header of ${headerLength} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerStart = 7 + kindLength;
  if (bytes.byteLength < headerStart + headerLength) throw new ProtocolError('MESSAGE_MALFORMED', 'message truncated inside its header');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes.subarray(headerStart, headerStart + headerLength)).toString('utf8'));
  } catch {
    throw new ProtocolError('MESSAGE_MALFORMED', `the header of a '${kind}' message is not JSON`);
  }
  const parsed = schemas[kind].safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProtocolError('MESSAGE_INVALID', `'${kind}' message field '${issue.path.join('.') || '(header)'}': ${issue.message}`);
  }
  return { kind, header: parsed.data, body: bytes.subarray(headerStart + headerLength) } as Message<S>;
}

/** Float32 weights as message body bytes (little-endian, as every platform Node runs on). */
export function weightsBody(weights: Float32Array): Uint8Array {
  return new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
}

/** A message body as float32 weights, checked against the expected count. */
export function bodyWeights(body: Uint8Array, expected: number): Float32Array {
  if (body.byteLength !== expected * 4) {
    throw new ProtocolError('MESSAGE_INVALID', `the body carries ${body.byteLength} bytes; ${expected} float32 weights (${expected * 4} bytes) were expected`);
  }
  const copy = new Uint8Array(body);
  return new Float32Array(copy.buffer, 0, expected);
}
