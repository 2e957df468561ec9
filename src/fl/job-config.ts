import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadConfigFile } from '../core/index.js';
import { AdversaryConfigSchema } from './attacks.js';
import { PoisoningDetectorOptionsSchema } from './poisoning-detector.js';
import { CompressionConfigSchema } from './compression/index.js';
import { DEFAULT_DELTA, DEFAULT_GAMMA } from '../privacy/secagg/index.js';
import { hardwareUnavailable } from '../tee/index.js';
import { DpConfigSchema } from './privacy-plan.js';
import { StrategyConfigSchema } from './strategies/index.js';

const positiveInt = z.number().int().positive();
const column = z.union([z.string().min(1), z.number().int().nonnegative()]);

/** Where a job's data comes from: a training CSV, a held-out CSV, and which columns mean what. */
export const DataConfigSchema = z
  .object({
    train: z.string().min(1),
    test: z.string().min(1),
    labelColumn: column,
    features: z.array(column).min(1).optional(),
    header: z.union([z.boolean(), z.literal('auto')]).default('auto'),
    delimiter: z.string().length(1).default(','),
    scale: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('none') }).strict(),
        z.object({ kind: z.literal('divide'), by: z.number().positive() }).strict(),
        z.object({ kind: z.literal('minmax') }).strict(),
      ])
      .default({ kind: 'minmax' }),
    featureShape: z.array(positiveInt).min(1).optional(),
  })
  .strict();

/** How the training set is split across simulated clients. */
export const PartitionConfigSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('iid') }).strict(),
  z.object({ kind: z.literal('dirichlet'), alpha: z.number().positive(), minPerClient: positiveInt.default(10) }).strict(),
  z.object({ kind: z.literal('shards'), shardsPerClient: positiveInt }).strict(),
]);

/** The model to train; input shape and class count are taken from the data when omitted. */
export const ModelConfigSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('mlp'),
      hidden: z.array(positiveInt).default([64]),
      activation: z.enum(['relu', 'tanh', 'sigmoid']).default('relu'),
    })
    .strict(),
  z
    .object({
      type: z.literal('cnn'),
      conv: z.array(z.object({ filters: positiveInt, kernelSize: positiveInt, pool: positiveInt.optional() }).strict()).min(1),
      dense: z.array(positiveInt).default([]),
    })
    .strict(),
]);

/** A federated training job, as a user writes it in YAML or JSON. */
export const JobConfigSchema = z
  .object({
    name: z.string().min(1).default('job'),
    seed: z.number().int().nonnegative().default(42),
    data: DataConfigSchema,
    clients: positiveInt.max(10_000).default(10),
    rounds: positiveInt.max(100_000).default(20),
    partition: PartitionConfigSchema.default({ kind: 'dirichlet', alpha: 0.5, minPerClient: 10 }),
    selection: z
      .object({
        fraction: z.number().gt(0).max(1).default(1),
        minClients: positiveInt.default(2),
        maxClients: positiveInt.optional(),
      })
      .strict()
      .default({}),
    model: ModelConfigSchema.default({ type: 'mlp', hidden: [64], activation: 'relu' }),
    training: z
      .object({
        epochs: positiveInt.max(1000).default(1),
        batchSize: positiveInt.default(32),
        learningRate: z.number().positive().max(10).default(0.01),
        optimizer: z.enum(['sgd', 'adam', 'momentum']).default('adam'),
        momentum: z.number().min(0).lt(1).default(0.9),
      })
      .strict()
      .default({}),
    strategy: StrategyConfigSchema.default({ name: 'fedavg' }),
    aggregation: z
      .object({
        /** Largest share of a round's total weight any one participant may hold; its weight is cut to fit (1 = no cap). */
        maxWeightShare: z.number().gt(0).max(1).default(1),
        /**
         * Where a robust rule (krum, median, trimmed-mean, norm-bounding) runs when participants come through edge
         * aggregators: `edges` runs it on each group's updates, where they are visible, and the root averages the
         * groups' results. A tiered job with a robust rule must say so; a flat coordinator runs the rule either way.
         */
        robustAt: z.enum(['coordinator', 'edges']).default('coordinator'),
      })
      .strict()
      .default({}),
    round: z
      .object({
        /** Fraction of the selected clients whose updates are required to aggregate. */
        quorum: z.number().gt(0).max(1).default(1),
        deadlineSeconds: z.number().positive().default(600),
      })
      .strict()
      .default({}),
    execution: z
      .object({
        mode: z.enum(['in-process', 'workers']).default('workers'),
        workers: positiveInt.max(64).optional(),
      })
      .strict()
      .default({}),
    privacy: z
      .object({
        dp: DpConfigSchema.optional(),
        /** Encrypted aggregation: clients send CKKS ciphertexts that the coordinator adds without a secret key. */
        he: z.literal('ckks').optional(),
        /** CKKS parameter preset (all meet the HE Standard's 128-bit table). */
        heParams: z.enum(['n8192', 'n16384']).default('n8192'),
        /** Key holders of each CKKS round: decrypting anything takes all of them; any one honest holder refuses what it cannot check. */
        heCommittee: z.number().int().min(1).max(16).default(3),
        /** How long a CKKS key-setup or decryption stage waits for the key holders. */
        heStageSeconds: z.number().positive().max(3600).default(30),
        /**
         * An attested enclave aggregates: participants verify its evidence and encrypt their updates to it;
         * it runs the strategy (robust rules too) and client-level DP inside. Only `simulated` runs without
         * enclave hardware, and it is not hardware-protected.
         */
        tee: z.enum(['simulated', 'nitro', 'sgx', 'snp']).optional(),
        /** Heap ceiling of the aggregation enclave, MiB. */
        teeMemoryMb: z.number().int().min(64).max(65_536).default(512),
        /** Secure aggregation (SecAgg+): the coordinator learns only the sum; `clip` bounds each coordinate of a contribution. */
        secagg: z
          .union([
            z.literal(true),
            z
              .object({
                clip: z.number().positive().default(1),
                /** How long a key-exchange, consistency or unmasking stage waits for participants; who has not answered then is a drop-out. */
                stageSeconds: z.number().positive().max(3600).default(30),
                /** Threat model: the fraction of participants that may collude with the coordinator, and the fraction that may drop out (Bell et al. 2020). */
                gamma: z.number().min(0).lt(1).default(DEFAULT_GAMMA),
                delta: z.number().min(0).lt(1).default(DEFAULT_DELTA),
              })
              .strict(),
          ])
          .transform((v) => (v === true ? { clip: 1, stageSeconds: 30, gamma: DEFAULT_GAMMA, delta: DEFAULT_DELTA } : v))
          .optional(),
        /**
         * Anonymous training: a participant proves membership of the staked member set with each update (signal: the
         * update's hash, scope: the job and round) instead of naming itself; one update per member per round.
         */
        anonymous: z.boolean().default(false),
      })
      .strict()
      .default({}),
    /** How clients compress their deltas on the wire (plain rounds only). */
    compression: CompressionConfigSchema.default({ kind: 'none' }),
    /** The poisoning detector run on every round's updates; it flags clients and never changes the aggregate. */
    detection: PoisoningDetectorOptionsSchema.extend({ enabled: z.boolean().default(true) }).strict().default({}),
    /** Simulation only: malicious clients, for testing robust aggregation. */
    adversaries: AdversaryConfigSchema.optional(),
    /** Thresholds the final model must meet, on the held-out set; a job that misses one ends failed. */
    validation: z
      .object({
        minAccuracy: z.number().min(0).max(1).optional(),
        maxLoss: z.number().positive().optional(),
        /** Accuracy points above the majority-class baseline, as a fraction: 0.05 needs 5 points more than always answering the commonest class. */
        minOverBaseline: z.number().min(0).max(1).optional(),
        /** A round whose held-out accuracy falls by more than this below the round before is flagged (report, dashboard, security event). */
        maxAccuracyDrop: z.number().min(0).max(1).default(0.1),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    const tee = config.privacy.tee;
    if (tee && tee !== 'simulated') ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['privacy', 'tee'], message: hardwareUnavailable(tee) });
    if (tee && (config.privacy.he || config.privacy.secagg)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['privacy', 'tee'], message: `choose one of privacy.tee and ${config.privacy.he ? 'privacy.he' : 'privacy.secagg'}` });
    }
    // SecAgg+ pairs masks between participants named across the round's stages; an anonymous member has no stable name to pair.
    if (config.privacy.anonymous && config.privacy.secagg) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['privacy', 'anonymous'],
        message: 'privacy.anonymous cannot be combined with privacy.secagg, whose masks need stable per-round identities; use privacy.he or privacy.dp with it',
      });
    }
    // The enclave opens whole weights; a compressed delta is a plain-round encoding.
    if (tee && config.compression.kind !== 'none') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['compression', 'kind'], message: 'compression applies to plain updates and cannot be combined with privacy.tee' });
    }
    // Protected updates cannot be read one by one, so rules that inspect individual updates cannot run on them (an enclave can).
    const mode = config.privacy.he ? 'privacy.he' : config.privacy.secagg ? 'privacy.secagg' : undefined;
    if (!mode) return;
    if (config.compression.kind !== 'none') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['compression', 'kind'], message: `compression applies to plain updates and cannot be combined with ${mode}` });
    }
    if (config.privacy.he && config.privacy.secagg) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['privacy', 'secagg'], message: 'choose one of privacy.he and privacy.secagg' });
    }
    if (INDIVIDUAL_UPDATE_RULES.has(config.strategy.name)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['strategy', 'name'],
        message: `'${config.strategy.name}' needs each client's update and cannot run with ${mode}; use fedavg, fedprox, fedadam or fedyogi`,
      });
    }
    // Under secure aggregation the clients clip and add the noise themselves; CKKS has no such step.
    if (config.privacy.he && config.privacy.dp?.mode === 'client') {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['privacy', 'dp', 'mode'],
        message: "client-level DP clips each update on the coordinator, which cannot see them under privacy.he; use mode 'local' or 'sample'",
      });
    }
  });

/** Strategies that need every client's update in the clear. */
/** Rules that read each participant's update: they cannot run on protected updates, and run at edges in a tiered job. */
export const INDIVIDUAL_UPDATE_RULES: ReadonlySet<string> = new Set(['krum', 'median', 'trimmed-mean', 'norm-bounding']);

export type JobConfigInput = z.input<typeof JobConfigSchema>;
export type JobConfig = z.output<typeof JobConfigSchema>;

/** The package's own data folder (shipped with the package, so the demo works from any install). */
export const PACKAGE_DATA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data');

/** The demo job: 10 clients on UCI optical digits, split non-IID (Dirichlet alpha 0.5). */
export function demoConfig(overrides: { clients?: number; rounds?: number; seed?: number; dp?: boolean; he?: boolean; secagg?: boolean } = {}): JobConfigInput {
  const base: JobConfigInput = {
    name: 'optdigits-demo',
    seed: overrides.seed ?? 42,
    data: {
      train: resolve(PACKAGE_DATA_DIR, 'optdigits', 'optdigits.tra'),
      test: resolve(PACKAGE_DATA_DIR, 'optdigits', 'optdigits.tes'),
      labelColumn: 64,
      header: false,
      scale: { kind: 'divide', by: 16 },
    },
    clients: overrides.clients ?? 10,
    rounds: overrides.rounds ?? 30,
    partition: { kind: 'dirichlet', alpha: 0.5, minPerClient: 10 },
    model: { type: 'mlp', hidden: [128, 64], activation: 'relu' },
    training: { epochs: 2, batchSize: 32, learningRate: 0.005, optimizer: 'adam' },
    strategy: { name: 'fedavg' },
  };
  const withDp = overrides.dp ? { ...base, ...DEMO_DP } : base;
  if (overrides.he) return { ...withDp, privacy: { ...withDp.privacy, he: 'ckks' } };
  return overrides.secagg ? { ...withDp, privacy: { ...withDp.privacy, secagg: true } } : withDp;
}

/**
 * The demo's sample-level DP-SGD settings (`demo --dp`): every client samples 5% of its examples per
 * step (Poisson), 20 steps a round; 30 rounds of the exact discrete Gaussian spend epsilon 10.64 at
 * delta 1e-5 (improved conversion, Zhu & Wang's bound for the subsampled discrete Gaussian; the
 * continuous Gaussian's tight formula would say 9.11).
 */
const DEMO_DP: Partial<JobConfigInput> = {
  training: { epochs: 1, batchSize: 32, learningRate: 0.05, optimizer: 'momentum', momentum: 0.9 },
  privacy: { dp: { mode: 'sample', noiseMultiplier: 1.0, clipNorm: 1.0, samplingRate: 0.05, delta: 1e-5, budget: { epsilon: 11 } } },
};

/**
 * Reads a job config file (YAML or JSON) and resolves its data paths against the file's directory;
 * the result is checked in full by `prepareJob`, which names the first field that is wrong.
 */
export function loadJobConfig(path: string): unknown {
  const raw = loadConfigFile(path, z.record(z.unknown()));
  const data = raw.data;
  if (typeof data !== 'object' || data === null) return raw;
  const baseDir = dirname(resolve(path));
  const at = (p: unknown): unknown => (typeof p === 'string' && !isAbsolute(p) ? resolve(baseDir, p) : p);
  const fields = data as Record<string, unknown>;
  return { ...raw, data: { ...fields, train: at(fields.train), test: at(fields.test) } };
}
