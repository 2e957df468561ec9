import { InvalidInputError } from '../core/errors.js';
import { INDIVIDUAL_UPDATE_RULES, type JobConfig } from './job-config.js';

/**
 * Hierarchical aggregation: an edge is a participant of the root's job and a coordinator of its own
 * group. It folds its participants' updates with FedAvg's weighting and answers the root with one
 * update, their weighted mean, weighing the sum of their examples; the root's FedAvg of edge means is
 * then the flat FedAvg of every participant. Only linear strategies keep that identity; a robust rule
 * runs on each group's updates when the config says so (`aggregation.robustAt: edges`). SecAgg+,
 * CKKS and an aggregation enclave run inside each group (the edge adds its group's masked vectors or
 * ciphertexts, or its enclave aggregates them, and learns only the group's result, the root only the
 * edges' means). Differential privacy runs in the groups and is
 * accounted by each edge for its participants. Everything else is refused at the edge until it is
 * built for edges.
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
  if (privacy.anonymous) throw new EdgeUnsupportedError('privacy.anonymous', 'anonymous membership at edges is not built yet');
  if (INDIVIDUAL_UPDATE_RULES.has(config.strategy.name) && config.aggregation.robustAt !== 'edges') {
    throw new EdgeUnsupportedError(
      'strategy.name',
      `'${config.strategy.name}' reads each participant's update, which only the edges see; set aggregation.robustAt: edges to run it on each edge group's updates (the root averages the groups' results), or use fedavg, fedprox, fedadam or fedyogi`,
    );
  }
  if (!LINEAR_STRATEGIES.has(config.strategy.name) && !INDIVIDUAL_UPDATE_RULES.has(config.strategy.name)) {
    throw new EdgeUnsupportedError('strategy.name', `'${config.strategy.name}' is not built for edges yet; use fedavg, fedprox, fedadam or fedyogi`);
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
    strategy: edgeStrategy(config.strategy),
    // Every connected participant of the group is folded: the declared weight upstream is the whole group's.
    selection: { fraction: 1, minClients },
    rounds: 100_000,
    validation: { maxAccuracyDrop: config.validation.maxAccuracyDrop },
  };
}

/**
 * The job a root (`serve --role root`) runs across its edges: the job as configured, except that
 * SecAgg+, CKKS, an aggregation enclave and a robust rule run in each edge group rather than across edges, so the root's
 * rounds are plain rounds over the edges' results, and differential privacy is accounted where the
 * participants are known, at each edge: its ledger charges each of its participants what the flat
 * job would (the root's would see one participant per edge). Refuses what edges cannot run, as the edges do.
 */
export function rootJobConfig(config: JobConfig): JobConfig {
  checkEdgeJob(config);
  const { secagg: _secaggInGroups, he: _ckksInGroups, tee: _enclavesAtEdges, dp: _accountedAtEdges, ...privacy } = config.privacy;
  return { ...config, privacy, strategy: rootStrategy(config.strategy) };
}

/** An edge's rule: a robust rule runs there; a server optimiser runs only at the root, so its edges average. */
function edgeStrategy(strategy: JobConfig['strategy']): JobConfig['strategy'] {
  if (ROOT_ONLY_STRATEGIES.has(strategy.name)) return { name: 'fedavg' };
  if (strategy.name === 'norm-bounding' && ROOT_ONLY_STRATEGIES.has(strategy.inner.name)) return { ...strategy, inner: { name: 'fedavg' } };
  return strategy;
}

/** The root's rule over edge results: the robust rule ran at the edges, so the root averages (or runs the server optimiser norm bounding wrapped). */
function rootStrategy(strategy: JobConfig['strategy']): JobConfig['strategy'] {
  if (!INDIVIDUAL_UPDATE_RULES.has(strategy.name)) return strategy;
  if (strategy.name === 'norm-bounding' && ROOT_ONLY_STRATEGIES.has(strategy.inner.name)) return strategy.inner;
  return { name: 'fedavg' };
}
