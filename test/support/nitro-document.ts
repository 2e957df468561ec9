import { KeyObject, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { encode } from 'cbor2';
import { generateEcdsaCryptoKeyPair } from '../../src/core/index.js';

x509.cryptoProvider.set(webcrypto);

/** A throwaway root → intermediate → leaf chain of P-384 keys, shaped like a Nitro chain but rooted elsewhere. */
export interface ForgedChain {
  rootPem: string;
  root: Uint8Array;
  intermediate: Uint8Array;
  leaf: Uint8Array;
  leafKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
}

const SIGNING = { name: 'ECDSA', hash: 'SHA-384' } as const;

/** Makes a chain whose certificates are all valid from `notBefore` to `notAfter`. */
export async function forgeChain(notBefore: Date, notAfter: Date): Promise<ForgedChain> {
  const keys = await Promise.all([0, 1, 2].map(() => generateEcdsaCryptoKeyPair('P-384')));
  const [rootKeys, intermediateKeys, leafKeys] = keys as webcrypto.CryptoKeyPair[];
  const ca = (pathLength: number) => [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
  ];
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=forged.nitro-enclaves', notBefore, notAfter, keys: rootKeys, signingAlgorithm: SIGNING, extensions: ca(1),
  });
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: 'CN=forged.zonal.nitro-enclaves', issuer: root.subject, notBefore, notAfter,
    publicKey: intermediateKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: SIGNING, extensions: ca(0),
  });
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '03', subject: 'CN=i-forged-enc0.aws', issuer: intermediate.subject, notBefore, notAfter,
    publicKey: leafKeys.publicKey, signingKey: intermediateKeys.privateKey, signingAlgorithm: SIGNING,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, false)],
  });
  return {
    rootPem: root.toString('pem'),
    root: new Uint8Array(root.rawData),
    intermediate: new Uint8Array(intermediate.rawData),
    leaf: new Uint8Array(leaf.rawData),
    leafKey: KeyObject.from(leafKeys.privateKey),
    notBefore,
    notAfter,
  };
}

/** Attestation document fields to override by their CBOR names; `undefined` removes one. */
export type ForgedFields = Record<string, unknown>;

/** Signs an untagged ES384 COSE_Sign1 attestation document with the chain's leaf; `fields` replace or add payload fields. */
export function forgeDocument(chain: ForgedChain, fields: ForgedFields = {}): Uint8Array {
  const pcrs = new Map<number, Uint8Array>();
  for (let index = 0; index < 16; index++) pcrs.set(index, new Uint8Array(48).fill(index + 1));
  const payload = new Map<string, unknown>(Object.entries({
    module_id: 'i-forged-enc0',
    digest: 'SHA384',
    timestamp: chain.notBefore.getTime() + 60_000,
    pcrs,
    certificate: chain.leaf,
    cabundle: [chain.root, chain.intermediate],
    public_key: null,
    user_data: new Uint8Array([1, 2, 3]),
    nonce: new Uint8Array(16).fill(7),
  }));
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) payload.delete(name);
    else payload.set(name, value);
  }
  const protectedHeader = encode(new Map([[1, -35]]));
  const payloadBytes = encode(payload);
  const toBeSigned = encode(['Signature1', protectedHeader, new Uint8Array(0), payloadBytes]);
  const signature = new Uint8Array(sign('sha384', toBeSigned, { key: chain.leafKey, dsaEncoding: 'ieee-p1363' }));
  return encode([protectedHeader, new Map(), payloadBytes, signature]);
}
