import { z } from 'zod';
import { InvalidInputError } from '../core/errors.js';
import { Rng } from '../core/index.js';
import type { Dataset } from '../ml/index.js';

/** Default multiplier of a 'scale' attack: ten times the honest delta (the explicit boosting of Bhagoji et al. 2019, "Analyzing Federated Learning through an Adversarial Lens"). */
export const DEFAULT_SCALE_FACTOR = 10;
/** Default standard deviation of a 'noise' attack's update, per coordinate. */
export const DEFAULT_NOISE_STD = 0.5;
/** Default example count an 'inflate-weight' attacker claims: the most an update header may carry. */
export const DEFAULT_INFLATED_EXAMPLES = 1e12;

/**
 * Simulated malicious clients of a job, for testing robust aggregation only: which clients (a list of
 * ids, or how many to choose from the job seed) and what they do. 'label-flip' poisons their local
 * data (y → C − 1 − y); 'scale' multiplies their honest delta by `factor`; 'noise' replaces their
 * update with Gaussian noise of standard deviation `factor` around the global model; 'inflate-weight'
 * sends an all-zero model and claims `factor` examples for it, so that a coordinator taking the claim
 * as sent would make it nearly the whole FedAvg mean.
 */
export const AdversaryConfigSchema = z
  .object({
    clients: z.union([z.array(z.string().min(1)).min(1), z.number().int().positive()]),
    kind: z.enum(['label-flip', 'scale', 'noise', 'inflate-weight']),
    factor: z.number().finite().positive().optional(),
  })
  .strict()
  .refine((a) => a.kind !== 'label-flip' || a.factor === undefined, { message: "'factor' applies to 'scale', 'noise' and 'inflate-weight' attacks only", path: ['factor'] })
  .refine((a) => a.kind !== 'inflate-weight' || a.factor === undefined || (Number.isInteger(a.factor) && a.factor <= 1e12), {
    message: "an 'inflate-weight' factor is the example count claimed: a whole number up to 1e12",
    path: ['factor'],
  });
export type AdversaryConfig = z.output<typeof AdversaryConfigSchema>;

/** What one malicious client does in a round, with its factor resolved; travels inside the client task. */
export interface ClientAttack {
  kind: AdversaryConfig['kind'];
  /** Scale multiplier, noise standard deviation or claimed example count; unused by 'label-flip'. */
  factor: number;
}

/** The attack a config describes, with the default factor filled in. */
export function attackOf(config: AdversaryConfig): ClientAttack {
  const fallback = config.kind === 'noise' ? DEFAULT_NOISE_STD : config.kind === 'scale' ? DEFAULT_SCALE_FACTOR : config.kind === 'inflate-weight' ? DEFAULT_INFLATED_EXAMPLES : 0;
  return { kind: config.kind, factor: config.factor ?? fallback };
}

/**
 * The malicious clients' ids, sorted: the listed ones (each must exist), or `count` drawn without
 * replacement by `rng`, which the job derives from its seed so a seed replays the same adversaries.
 */
export function chooseAdversaries(clientIds: readonly string[], config: AdversaryConfig, rng: Rng): string[] {
  const known = [...clientIds].sort();
  if (typeof config.clients === 'number') {
    if (config.clients >= known.length) {
      throw new InvalidInputError(
        'CONFIG_INVALID',
        `config field 'adversaries.clients': ${config.clients} malicious clients leave no honest one among ${known.length}; choose fewer`,
      );
    }
    return rng.shuffle(known).slice(0, config.clients).sort();
  }
  const unknown = config.clients.filter((id) => !known.includes(id));
  if (unknown.length > 0) {
    throw new InvalidInputError('CONFIG_INVALID', `config field 'adversaries.clients' names unknown clients ${unknown.join(', ')}; ids run ${known[0]}..${known[known.length - 1]}`, {
      unknown,
    });
  }
  return [...new Set(config.clients)].sort();
}

/** The label-flipping attack's poisoned copy of a client's data: every label y becomes C − 1 − y (Fang et al. 2020, "Local Model Poisoning Attacks to Byzantine-Robust Federated Learning"). */
export function flipLabels(data: Dataset): Dataset {
  const labels = new Int32Array(data.numExamples);
  for (let i = 0; i < labels.length; i++) labels[i] = data.numClasses - 1 - data.labels[i];
  return { ...data, labels };
}

/**
 * The model a 'scale' or 'noise' attacker sends instead of `trained`: `global + factor · (trained − global)`,
 * or `global + N(0, factor² I)` drawn from `seed`, or all zeros ('inflate-weight', whose claim the
 * participant runtime inflates). A 'label-flip' attacker sends what it trained.
 */
export function attackedWeights(global: Float32Array, trained: Float32Array, attack: ClientAttack, seed: number): Float32Array {
  const out = new Float32Array(global.length);
  switch (attack.kind) {
    case 'label-flip':
      out.set(trained);
      return out;
    case 'scale':
      for (let k = 0; k < out.length; k++) out[k] = global[k] + attack.factor * (trained[k] - global[k]);
      return out;
    case 'inflate-weight':
      return out;
    case 'noise': {
      const rng = new Rng(seed ^ 0x0bad5eed);
      for (let k = 0; k < out.length; k++) out[k] = global[k] + attack.factor * rng.normal();
      return out;
    }
  }
}
