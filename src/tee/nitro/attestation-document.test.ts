import { encode } from 'cbor2';
import { describe, expect, it } from 'vitest';
import { readAttestationDocument } from './attestation-document.js';

const CERTIFICATE = new Uint8Array(300).fill(0x30);

function fields(overrides: Record<string, unknown> = {}): Map<string, unknown> {
  const pcrs = new Map<number, Uint8Array>([[0, new Uint8Array(48)], [1, new Uint8Array(48).fill(1)]]);
  const document = new Map<string, unknown>(Object.entries({
    module_id: 'i-0-enc0', digest: 'SHA384', timestamp: 1725719859545, pcrs, certificate: CERTIFICATE, cabundle: [CERTIFICATE],
  }));
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) document.delete(name);
    else document.set(name, value);
  }
  return document;
}

function detail(overrides: Record<string, unknown>): string {
  const read = readAttestationDocument(encode(fields(overrides)));
  return read.ok ? 'ok' : read.detail;
}

describe('readAttestationDocument', () => {
  it('reads the mandatory fields and treats absent and null optional ones alike', () => {
    const read = readAttestationDocument(encode(fields({ nonce: null, user_data: new Uint8Array(0) })));
    expect(read.ok && read.value).toMatchObject({ moduleId: 'i-0-enc0', timestamp: 1725719859545, publicKey: null, nonce: null, userData: new Uint8Array(0) });
  });

  it('refuses what AWS specifies otherwise, naming the field', () => {
    expect(detail({ module_id: '' })).toContain('module_id');
    expect(detail({ digest: 'SHA256' })).toContain('digest');
    expect(detail({ timestamp: -1 })).toContain('timestamp');
    expect(detail({ timestamp: undefined })).toContain('timestamp is absent');
    expect(detail({ pcrs: new Map() })).toContain('0 entries');
    expect(detail({ pcrs: new Map([[0, new Uint8Array(32)]]) })).toContain('PCR0 is a 32-byte string');
    expect(detail({ pcrs: new Map([[32, new Uint8Array(48)]]) })).toContain('index 32');
    expect(detail({ pcrs: new Map([[1, new Uint8Array(48)]]) })).toContain('no PCR0');
    expect(detail({ certificate: new Uint8Array(1025) })).toContain('certificate');
    expect(detail({ cabundle: null })).toContain('cabundle is null');
    expect(detail({ cabundle: [] })).toContain('cabundle is empty');
    expect(detail({ cabundle: [CERTIFICATE, 'x'] })).toContain('cabundle[1]');
    expect(detail({ public_key: new Uint8Array(0) })).toContain('public_key');
    expect(detail({ nonce: new Uint8Array(1025) })).toContain('nonce');
    expect(detail({ user_data: 'text' })).toContain('user_data');
    expect(detail({ extra: 1 })).toContain('outside AWS');
  });

  it('refuses a payload that is not a map, or not strict CBOR', () => {
    expect(readAttestationDocument(encode([1, 2]))).toMatchObject({ ok: false, detail: 'payload is an array, not a map' });
    // A float timestamp, and a duplicated key.
    expect(readAttestationDocument(encode(fields({ timestamp: 1.5 })))).toMatchObject({ ok: false });
    expect(readAttestationDocument(new Uint8Array([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]))).toMatchObject({ ok: false });
  });
});
