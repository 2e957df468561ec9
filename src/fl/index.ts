export { ModelRegistry, weightsSha256, type MetricThresholds, type ModelConfig, type ModelVersionInfo } from './model-registry.js';
export { TrainingManager, type RoundResult, type StartRoundOptions } from './training-manager.js';
export { RoundError, UpdateRejectedError } from './round-errors.js';
export * from './strategies/index.js';
export * from './client-selection.js';
export * from './model-validator.js';
export { createClientRunner, SimulationError, type ClientRunner } from './simulation.js';
export { runClientTask, type ClientResult, type ClientTask, type LocalTrainingPlan } from './client-training.js';
export {
  JobConfigSchema,
  PACKAGE_DATA_DIR,
  demoConfig,
  loadJobConfig,
  type JobConfig,
  type JobConfigInput,
} from './job-config.js';
export { jobStreams, prepareJob, runJob, type JobObserver, type PreparedJob, type RunJobOptions } from './federated-job.js';
export { formatEvaluation, formatRoundTable, formatVerdict, type IncentivesReport, type JobReport, type JobStop, type JobValidation, type ModelEvaluation, type ParticipantReport, type PrivacyReport, type RefusedUpdate, type RoundReport } from './report.js';
export { jobWarnings, NEAR_BASELINE_MARGIN, type JobWarning, type JobWarningCode, type JobWarningInput } from './job-warnings.js';
export type { AdmissionRefusal, IncentivesSummary, ParticipantBalance, RoundIncentives, RoundContributions, RoundSettlementReport, TokenAmount } from './incentives.js';
export {
  DpConfigSchema,
  JobBudgetExceededError,
  JobPrivacy,
  JobPrivacyAccount,
  dpSgdSchedule,
  roundPrivacyCost,
  type ClientPrivacy,
  type DpConfig,
  type RoundCharge,
  type RoundPrivacyCost,
} from './privacy-plan.js';
export { localDpUpdate, decodeCompressed } from './client-training.js';
export * from './compression/index.js';
export {
  AdversaryConfigSchema,
  DEFAULT_NOISE_STD,
  DEFAULT_SCALE_FACTOR,
  DEFAULT_INFLATED_EXAMPLES,
  attackOf,
  attackedWeights,
  chooseAdversaries,
  flipLabels,
  type AdversaryConfig,
  type ClientAttack,
} from './attacks.js';
export { PoisoningDetectorOptionsSchema, detectPoisoning, type FlaggedClient, type PoisoningDetectorOptions } from './poisoning-detector.js';
export { openCoordinatedJob, prepareCoordinatedJob, type ParticipantDataOptions, type PreparedCoordinatedJob } from './coordinated-job.js';
export { JobDriver, type CoordinatorJob, type JobDriverOptions, type RoundBase } from './job-driver.js';
export type { JobOutcome } from './job-outcome.js';
export { taskSeed } from './round-opening.js';
export type { CoordinatorEndpoint, OutboundStageMessage, ParticipantChannel, RemoteTask, RemoteUpdate, SecAggTaskProtection, StageMessage, TaskProtection, UpdateEncoding } from './participant-channel.js';
export { ParticipantRuntime, type ParticipantOutput, type ParticipantRuntimeOptions } from './participant.js';
export { PROTECTION_KINDS, ProtectionRefusedError, checkProtectionFloor, parseProtectionFloor, type ProtectionKind } from './protection-floor.js';
export { EnclaveRefusedError, type EnclavePolicy } from './protection/tee.js';
export { AggregationEnclave, aggregationEnclaveBundle, roundNonce } from './protection/tee-enclave.js';
export { InProcessChannel, type SimulatedParticipant } from './in-process-channel.js';
export type { TrainingManagerOptions } from './training-manager.js';
export type { SubmitOutcome } from './update-admission.js';
export { EXAMPLES_REDECLARED, WEIGHT_OVER_BOUND, boundedWeight, roundWeightBounds } from './weight-bound.js';
export * as leakage from './leakage/index.js';
export { AnonymousAdmission, AnonymousMember, MemberSetRoots, joinScope, joinSignal, roundScope, updateSignal, type MemberRoots } from './anonymous-membership.js';
export { EdgeUnsupportedError, checkEdgeJob, edgeJobConfig, rootJobConfig } from './edge-job.js';
