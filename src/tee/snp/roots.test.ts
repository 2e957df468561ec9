import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { snpVectorText } from '../../../test/vectors/tee/snp/vectors.js';
import { readChain } from './chain.js';
import { AMD_ROOT_KEYS } from './roots.js';
import { AMD_SIGNING_KEYS } from './signing-keys.js';

describe('AMD root and signing keys', () => {
  it('pins each ARK by the SHA-256 fingerprint of the certificate shipped beside it', () => {
    for (const root of Object.values(AMD_ROOT_KEYS)) {
      const certificate = new X509Certificate(root.pem);
      expect(certificate.fingerprint256).toBe(root.fingerprint256);
      expect(certificate.subject).toContain(`CN=${root.commonName}`);
      expect(certificate.verify(certificate.publicKey)).toBe(true);
    }
  });

  it('pins the same ARKs as AMD publishes in the product chains', () => {
    for (const [product, file] of [['Milan', 'ask_ark_milan.pem'], ['Genoa', 'ask_ark_genoa_vlek.pem'], ['Turin', 'ask_ark_turin_vlek.pem']] as const) {
      const chain = readChain(snpVectorText(file));
      if (!chain.ok) throw new Error(chain.reason);
      expect(chain.certificates[1]?.fingerprint256).toBe(AMD_ROOT_KEYS[product].fingerprint256);
    }
  });

  it('ships ASKs and ASVKs that each verify under their product\'s ARK', () => {
    expect(Object.keys(AMD_SIGNING_KEYS).sort()).toEqual(['SEV-Genoa', 'SEV-Milan', 'SEV-Turin', 'SEV-VLEK-Genoa', 'SEV-VLEK-Milan', 'SEV-VLEK-Turin']);
    for (const [name, pem] of Object.entries(AMD_SIGNING_KEYS)) {
      const product = name.replace(/^SEV-(VLEK-)?/, '') as keyof typeof AMD_ROOT_KEYS;
      const ark = new X509Certificate(AMD_ROOT_KEYS[product].pem);
      expect(new X509Certificate(pem).verify(ark.publicKey)).toBe(true);
    }
  });
});
