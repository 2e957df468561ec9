export { bundleEnclaveProgram, bundleMeasurement, type EnclaveBundle } from './bundle.js';
export { DEFAULT_SIMULATED_RESOURCES, SimulatedEnclave, type SimulatedEnclaveOptions } from './enclave.js';
export { signSimulatedEvidence, verifySimulatedEvidence, type SimulatedEvidenceBody, type SimulatedReport, type VerifySimulatedOptions } from './evidence.js';
export { DEFAULT_PLATFORM_KEY_DIR, loadSimulatedPlatformKey, platformKeyFingerprint, readSimulatedPlatformPublicKey, type SimulatedPlatformKey } from './platform-key.js';
export { serveEnclaveProgram, type EnclaveProgram, type EnclaveProgramContext } from './runtime.js';
