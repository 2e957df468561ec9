import { StateError } from '../errors.js';
import type { ModelVersionRecord, PrivacyChargeRecord, UpdateRecord } from './repository.js';

/**
 * The errors both stores raise when a write collides with a row that is never replaced. Each store
 * detects the collision its own way (SQLite by result code, PostgreSQL by constraint name) and
 * raises the same error here, so that callers see one code and message whichever store they use.
 */

/** MODEL_DUPLICATE: a model with this id exists already. */
export function modelDuplicate(id: string): StateError {
  return new StateError('MODEL_DUPLICATE', `model '${id}' already exists; choose another id or add a version to it`, { id });
}

/** MODEL_VERSION_DUPLICATE: the model has this version already. */
export function modelVersionDuplicate({ modelId, version }: Pick<ModelVersionRecord, 'modelId' | 'version'>): StateError {
  return new StateError(
    'MODEL_VERSION_DUPLICATE',
    `model '${modelId}' already has version ${version}; versions are immutable, store the next number instead`,
    { modelId, version },
  );
}

/** UPDATE_DUPLICATE: the client has submitted to this round already. */
export function updateDuplicate({ roundId, clientId }: Pick<UpdateRecord, 'roundId' | 'clientId'>): StateError {
  return new StateError(
    'UPDATE_DUPLICATE',
    `client '${clientId}' already submitted an update to round '${roundId}'; each client submits once per round`,
    { roundId, clientId },
  );
}

/** PRIVACY_CHARGE_DUPLICATE: the scope is charged for this job and round already. */
export function privacyChargeDuplicate({ scope, jobId, round }: Pick<PrivacyChargeRecord, 'scope' | 'jobId' | 'round'>): StateError {
  return new StateError(
    'PRIVACY_CHARGE_DUPLICATE',
    `round ${round} of job '${jobId}' is already charged to ${scope.kind} '${scope.id}'; a re-run releases again, so charge it under a new round number`,
    { scope, jobId, round },
  );
}

/** MARKET_ORDER_DUPLICATE: an order with this hash was received already. */
export function marketOrderDuplicate(hash: string): StateError {
  return new StateError('MARKET_ORDER_DUPLICATE', `order ${hash} was received already; sign a new order with a fresh nonce`, { hash });
}

/** MARKET_FILL_DUPLICATE: a fill with this id exists already. */
export function marketFillDuplicate(id: string): StateError {
  return new StateError('MARKET_FILL_DUPLICATE', `fill '${id}' exists already; a fill is recorded once`, { id });
}

/** MARKET_GRANT_DUPLICATE: a grant with this id, or for this fill, exists already. */
export function marketGrantDuplicate(id: string, fillId: string): StateError {
  return new StateError('MARKET_GRANT_DUPLICATE', `a grant for fill '${fillId}' (or with id '${id}') exists already; one fill gives one grant`, { id, fillId });
}

/** MARKET_RATING_DUPLICATE: the rater has rated this fill already. */
export function marketRatingDuplicate(fillId: string, rater: string): StateError {
  return new StateError('MARKET_RATING_DUPLICATE', `${rater} has rated fill '${fillId}' already; each buyer rates a purchase once`, { fillId, rater });
}
