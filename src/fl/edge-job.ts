import { InvalidInputError } from '../core/errors.js';
import type { JobConfig } from './job-config.js';

/**
 * Hierarchical aggregation: an edge is a participant of the root's job and a coordinator of its own
 * group. It folds its participants' updates with FedAvg's weighting and answers the root with one
 * update, their weighted mean, weighing the sum of their examples; the root's FedAvg of edge means is
 * then the flat FedAvg of every participant. Only linear strategies keep that identity. SecAgg+ runs
 * inside each group (the edge learns only its group's sum, the root only the edges' means); everything
 * else is refused at the edge until it is built for edges.
 */

/** A job setting the edge tier does not support yet; the CLI exits with code 2 and names the field. */
export class EdgeUnsupportedError extends InvalidInputError {
  constructor(field: string, why: string) {
    super('EDGE_UNSUPPORTED', `config field '${field}': ${why}; serve this job without --role edge (one flat coordinator)`, { field });
  }
}

// Server optimisers keep moments over the global model: they run once, at the root, on the edges' means.
const ROOT_ONLY_STRATEGIES = new Set(['fedadam', 'fedyogi']);
const LINEAR_STRATEGIES = new Set(['fedavg', 'fedprox', ...ROOT_ONLY_STRATEGIES]);

/** Throws EdgeUnsupportedError for the first setting of `config` that an edge cannot run yet. */
export function checkEdgeJob(config: JobConfig): void {
  const { privacy } = config;
  if (privacy.he) throw new EdgeUnsupportedError('privacy.he', 'CKKS at edges (adding ciphertexts) is not built yet');
  if (privacy.tee) throw new EdgeUnsupportedError('privacy.tee', 'an aggregation enclave at edges is not built yet');
  if (privacy.dp) {
    throw new EdgeUnsupportedError('privacy.dp', "differential privacy is not built for edges yet: the root's accountant would charge each edge as one participant, not the participants behind it");
  }
  if (privacy.anonymous) throw new EdgeUnsupportedError('privacy.anonymous', 'anonymous membership at edges is not built yet');
  if (!LINEAR_STRATEGIES.has(config.strategy.name)) {
    throw new EdgeUnsupportedError('strategy.name', `'${config.strategy.name}' needs each participant's update at one place and is not built for edges yet; use fedavg, fedprox, fedadam or fedyogi`);
  }
  if (config.aggregation.maxWeightShare < 1) {
    throw new EdgeUnsupportedError('aggregation.maxWeightShare', 'a weight cap would apply to whole edges at the root, not to participants; it is not built for edges yet');
  }
}

/**
 * The job an edge runs for its group: the root's job with FedAvg's weighting (FedProx keeps its
 * proximal term for the participants), all of at least `minClients` participants per round, no round limit of its own
 * (the root decides when the job ends) and no validation thresholds (the root validates the global model).
 */
export function edgeJobConfig(config: JobConfig, minClients: number): JobConfig {
  checkEdgeJob(config);
  return {
    ...config,
    strategy: ROOT_ONLY_STRATEGIES.has(config.strategy.name) ? { name: 'fedavg' } : config.strategy,
    // Every connected participant of the group is folded: the declared weight upstream is the whole group's.
    selection: { fraction: 1, minClients },
    rounds: 100_000,
    validation: { maxAccuracyDrop: config.validation.maxAccuracyDrop },
  };
}

/**
 * The job a root (`serve --role root`) runs across its edges: the job as configured, except that
 * SecAgg+ runs in each edge group rather than across edges, so the root's rounds are plain rounds of
 * edge means. Refuses what edges cannot run, as the edges do.
 */
export function rootJobConfig(config: JobConfig): JobConfig {
  checkEdgeJob(config);
  const { secagg: _inGroups, ...privacy } = config.privacy;
  return { ...config, privacy };
}
