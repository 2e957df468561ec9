import { describe, expect, it } from 'vitest';
import { sgxVectorText } from '../../../test/vectors/tee/sgx-dcap/vectors.js';
import { fingerprintOf } from './certificate.js';
import { pinnedRoot, sgxCollateralFromQvl } from './collateral.js';
import { INTEL_SGX_ROOT_CA_PEM, INTEL_SGX_ROOT_CA_SHA256 } from './roots.js';

describe('collateral', () => {
  it('pins the Intel SGX Root CA that Intel publishes, by fingerprint', () => {
    expect(fingerprintOf(pinnedRoot())).toBe(INTEL_SGX_ROOT_CA_SHA256);
    expect(INTEL_SGX_ROOT_CA_PEM).toBe(sgxVectorText('intel-sgx-root-ca.pem'));
  });

  it("keeps dcap-qvl's signed JSON verbatim inside the PCS body shape", () => {
    const text = sgxVectorText('phala_sgx_quote_collateral.json');
    const collateral = sgxCollateralFromQvl(text);
    expect(collateral.tcbInfo).toContain(JSON.parse(text).tcb_info);
    expect(collateral.qeIdentity).toContain(JSON.parse(text).qe_identity);
    expect(collateral.rootCaCrl?.[0]).toBe(0x30);
  });

  it('throws SGX_COLLATERAL_INVALID for a file that is not dcap-qvl collateral', () => {
    expect(() => sgxCollateralFromQvl('not json')).toThrow(expect.objectContaining({ code: 'SGX_COLLATERAL_INVALID' }));
    expect(() => sgxCollateralFromQvl('{"tcb_info":"{}"}')).toThrow(expect.objectContaining({ code: 'SGX_COLLATERAL_INVALID' }));
  });
});
