import { describe, fail, plainBytes, readCbor, type Read } from './cbor.js';

/**
 * The payload of a Nitro attestation document, as AWS specifies it (aws-nitro-enclaves-nsm-api,
 * docs/attestation_process.md, "Attestation document specification" and its syntactical checks).
 */
export interface AttestationDocument {
  /** The issuing Nitro hypervisor module, e.g. i-0a22e5c5f24d22174-enc0191cceb4289903f. */
  moduleId: string;
  /** When the document was made, unix milliseconds. */
  timestamp: number;
  /** Locked PCRs by index 0..31, in index order, 48 bytes each (SHA-384). */
  pcrs: Map<number, Uint8Array>;
  /** DER of the certificate whose key signed the document. */
  certificate: Uint8Array;
  /** DER certificates from the root down to the issuer of `certificate`. */
  cabundle: Uint8Array[];
  publicKey: Uint8Array | null;
  userData: Uint8Array | null;
  nonce: Uint8Array | null;
}

const FIELDS = new Set(['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce']);
const MAX_PCRS = 32;
const SHA384_BYTES = 48;
const MAX_CERTIFICATE_BYTES = 1024;
const MAX_USER_DATA_BYTES = 1024;

/** Reads the attestation document a COSE_Sign1 payload carries, with AWS's syntactical checks; what is wrong otherwise. */
export function readAttestationDocument(payload: Uint8Array): Read<AttestationDocument> {
  const read = readCbor(payload);
  if (!read.ok) return { ok: false, detail: `payload is ${read.detail}` };
  const fields = read.value;
  if (!(fields instanceof Map)) return fail(`payload is ${describe(fields)}, not a map`);
  const unknown = [...fields.keys()].filter((key) => typeof key !== 'string' || !FIELDS.has(key));
  if (unknown.length > 0) return fail(`payload has fields outside AWS's specification: ${unknown.map(describe).join(', ')}`);

  const moduleId: unknown = fields.get('module_id');
  if (typeof moduleId !== 'string' || moduleId.length === 0) return fail(`module_id is ${describe(moduleId)}, not a non-empty text`);
  const digest: unknown = fields.get('digest');
  if (digest !== 'SHA384') return fail(`digest is ${describe(digest)}, not "SHA384"`);
  const timestamp: unknown = fields.get('timestamp');
  // uint .size 8 in the specification; beyond 2^53 ms (year 287396) no real document goes.
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp <= 0) {
    return fail(`timestamp is ${describe(timestamp)}, not a positive integer of milliseconds`);
  }
  const pcrs = readPcrs(fields.get('pcrs'));
  if (!pcrs.ok) return pcrs;
  const certificate = readCertificate('certificate', fields.get('certificate'));
  if (!certificate.ok) return certificate;
  const cabundle = readCabundle(fields.get('cabundle'));
  if (!cabundle.ok) return cabundle;
  const publicKey = readOptionalBytes('public_key', fields.get('public_key'), 1);
  if (!publicKey.ok) return publicKey;
  const userData = readOptionalBytes('user_data', fields.get('user_data'), 0);
  if (!userData.ok) return userData;
  const nonce = readOptionalBytes('nonce', fields.get('nonce'), 0);
  if (!nonce.ok) return nonce;

  return {
    ok: true,
    value: {
      moduleId,
      timestamp,
      pcrs: pcrs.value,
      certificate: certificate.value,
      cabundle: cabundle.value,
      publicKey: publicKey.value,
      userData: userData.value,
      nonce: nonce.value,
    },
  };
}

function readPcrs(value: unknown): Read<Map<number, Uint8Array>> {
  if (!(value instanceof Map)) return fail(`pcrs is ${describe(value)}, not a map`);
  if (value.size === 0 || value.size > MAX_PCRS) return fail(`pcrs holds ${value.size} entries, not 1 to ${MAX_PCRS}`);
  const pcrs = new Map<number, Uint8Array>();
  for (const [index, pcr] of [...value.entries()].sort(([a], [b]) => Number(a) - Number(b))) {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= MAX_PCRS) {
      return fail(`pcrs index ${describe(index)} is not an integer 0 to ${MAX_PCRS - 1}`);
    }
    if (!(pcr instanceof Uint8Array) || pcr.length !== SHA384_BYTES) {
      return fail(`PCR${index} is ${describe(pcr)}, not a ${SHA384_BYTES}-byte SHA-384 value`);
    }
    pcrs.set(index, plainBytes(pcr));
  }
  // PCR0 is the enclave image's measurement, the one identity a policy can pin.
  if (!pcrs.has(0)) return fail('pcrs has no PCR0');
  return { ok: true, value: pcrs };
}

function readCabundle(value: unknown): Read<Uint8Array[]> {
  if (!Array.isArray(value)) return fail(`cabundle is ${describe(value)}, not an array of certificates`);
  if (value.length === 0) return fail('cabundle is empty: it must start with the AWS root');
  const certificates: Uint8Array[] = [];
  for (const [position, entry] of (value as unknown[]).entries()) {
    const certificate = readCertificate(`cabundle[${position}]`, entry);
    if (!certificate.ok) return certificate;
    certificates.push(certificate.value);
  }
  return { ok: true, value: certificates };
}

function readCertificate(name: string, value: unknown): Read<Uint8Array> {
  if (!(value instanceof Uint8Array) || value.length === 0 || value.length > MAX_CERTIFICATE_BYTES) {
    return fail(`${name} is ${describe(value)}, not 1 to ${MAX_CERTIFICATE_BYTES} bytes of DER`);
  }
  return { ok: true, value: plainBytes(value) };
}

function readOptionalBytes(name: string, value: unknown, minimum: number): Read<Uint8Array | null> {
  // The specification marks the field optional; Nitro writes it as CBOR null when it was not asked for.
  if (value === undefined || value === null) return { ok: true, value: null };
  if (!(value instanceof Uint8Array) || value.length < minimum || value.length > MAX_USER_DATA_BYTES) {
    return fail(`${name} is ${describe(value)}, not ${minimum} to ${MAX_USER_DATA_BYTES} bytes`);
  }
  return { ok: true, value: plainBytes(value) };
}
