import { CipherNexusError } from '../core/errors.js';

/** Stable codes of {@link EnclaveError}. */
export type EnclaveErrorCode =
  | 'TEE_HARDWARE_UNAVAILABLE'
  | 'TEE_ENCLAVE_STATE'
  | 'TEE_ENCLAVE_EXITED'
  | 'TEE_ENCLAVE_TIMEOUT'
  | 'TEE_ENCLAVE_FAILED'
  | 'TEE_RESOURCES_INVALID'
  | 'TEE_UNSEAL_FAILED'
  | 'TEE_IO_DECRYPT_FAILED'
  | 'TEE_IO_KEY_INVALID'
  | 'TEE_PLATFORM_KEY_INVALID';

/** An enclave could not be started, asked, sealed to or decrypted for; the message says what to do. */
export class EnclaveError extends CipherNexusError {
  declare readonly code: EnclaveErrorCode;

  constructor(code: EnclaveErrorCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}

const HARDWARE: Record<'nitro' | 'sgx' | 'snp', string> = {
  nitro: 'an AWS Nitro Enclaves host (an EC2 instance with enclave support and /dev/nitro_enclaves)',
  sgx: 'an Intel SGX platform (a CPU with SGX, the /dev/sgx_enclave driver and a DCAP quoting enclave)',
  snp: 'an AMD SEV-SNP guest (/dev/sev-guest)',
};

/** Why an enclave of a hardware kind cannot run on this machine: Cipher Nexus launches only `simulated` enclaves here. */
export function hardwareUnavailable(kind: 'nitro' | 'sgx' | 'snp'): string {
  return `privacy.tee '${kind}' needs ${HARDWARE[kind]}, which this machine does not have; use 'simulated' for development (it is not hardware-protected), or run the coordinator on such a host`;
}
