export { CipherNexusError, InvalidInputError, NotFoundError, StateError } from './errors.js';
export { Rng } from './rng.js';
export { canonicalJson } from './canonical-json.js';
export { readDataText, splitCsvRows, type CsvRow } from './csv-rows.js';
export { Mutex } from './mutex.js';
export { concatBytes } from './bytes.js';
export { curveKeyPair, generateCurveKeyPair, generateEcKeyPair, generateEcdsaCryptoKeyPair, type Curve, type EcCurve } from './curve-keys.js';
export { growHeapForBufferTraffic } from './heap-rule.js';
export { AUDIT_GENESIS_HASH, AuditEntrySchema, AuditTrail, AuditTrailError, verifyAuditTrail, type AuditEntry, type AuditTrailOptions, type AuditVerification } from './audit-trail.js';
export { PriorityQueue, type Comparator } from './priority-queue.js';
export { formatZodIssue, loadConfigFile, parseWithSchema, type ParseOptions, type ZodIssueContext } from './config.js';
export * from './storage/index.js';
export * from './backup/index.js';
export {
  ResourceMetricsSchema,
  ResourceRequirementsSchema,
  describeShortfall,
  findShortfall,
  sumRequirements,
  type ResourceShortfall,
} from './resources.js';
export { NodeManager, type NodeManagerEvents, type NodeManagerOptions, type NodeRegistration } from './node-manager.js';
export {
  TaskScheduler,
  type Assignment,
  type TaskResult,
  type TaskSchedulerEvents,
  type TaskSchedulerOptions,
  type TaskSpec,
} from './task-scheduler.js';
