import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { generateEcKeyPair } from '../../core/index.js';
import { EnclaveError } from '../errors.js';

/**
 * The simulated platform's key: an ECDSA P-384 key that stands where a CPU's fused attestation key
 * (or the AWS Nitro hypervisor's) would. It is generated on first use — the development backend's
 * "install" — and kept under the user's Cipher Nexus folder, private half readable only by its owner.
 * Whoever holds it can sign any simulated evidence: it proves nothing about isolation, only that the
 * evidence came from this machine's simulated platform.
 */

/** Default folder of the simulated platform key, beside the CLI's other state. */
export const DEFAULT_PLATFORM_KEY_DIR = '.cipher-nexus/tee';
const PRIVATE_FILE = 'platform-key.pem';
const PUBLIC_FILE = 'platform-key.pub.pem';

/** The simulated platform's key pair, and where it is kept. */
export interface SimulatedPlatformKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SHA-256 of the public key's SPKI DER, hex: how evidence names the key that signed it. */
  fingerprint: string;
  /** The public key's PEM file, to hand to participants on other machines. */
  publicKeyFile: string;
  /** True when this call generated the key. */
  created: boolean;
}

/** SHA-256 of a public key's SPKI DER, hex. */
export function platformKeyFingerprint(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex');
}

/** Loads the simulated platform key from `dir`, generating it there on first use (concurrent first uses agree on one key). */
export function loadSimulatedPlatformKey(dir: string = DEFAULT_PLATFORM_KEY_DIR): SimulatedPlatformKey {
  const folder = resolve(dir);
  const privateFile = join(folder, PRIVATE_FILE);
  const publicKeyFile = join(folder, PUBLIC_FILE);
  let created = false;
  if (!existsSync(privateFile)) {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const { privateKey } = generateEcKeyPair('P-384');
    const staging = `${privateFile}.${process.pid}.tmp`;
    writeFileSync(staging, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    try {
      // A hard link fails if another process made the key meanwhile: its key stands, this one is dropped.
      linkSync(staging, privateFile);
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(staging, { force: true });
    }
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(privateFile));
  } catch (error) {
    throw new EnclaveError('TEE_PLATFORM_KEY_INVALID', `the simulated platform key '${privateFile}' cannot be read (${(error as Error).message}); delete it to have a new one generated`);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new EnclaveError('TEE_PLATFORM_KEY_INVALID', `the simulated platform key '${privateFile}' is not an ECDSA P-384 key; delete it to have a new one generated`);
  }
  const publicKey = createPublicKey(privateKey);
  const pem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
  if (!existsSync(publicKeyFile) || readFileSync(publicKeyFile, 'utf8') !== pem) {
    mkdirSync(dirname(publicKeyFile), { recursive: true });
    writeFileSync(publicKeyFile, pem);
  }
  return { privateKey, publicKey, fingerprint: platformKeyFingerprint(publicKey), publicKeyFile, created };
}

/** Reads a simulated platform's public key (the PEM file `loadSimulatedPlatformKey` wrote), for a participant on another machine. */
export function readSimulatedPlatformPublicKey(file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(file));
  } catch (error) {
    throw new EnclaveError('TEE_PLATFORM_KEY_INVALID', `'${file}' is not a readable public key (${(error as Error).message}); give the platform-key.pub.pem of the simulated platform`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new EnclaveError('TEE_PLATFORM_KEY_INVALID', `'${file}' is not an ECDSA P-384 public key; give the platform-key.pub.pem of the simulated platform`);
  }
  return key;
}
