import { describe, expect, it } from 'vitest';
import { DEPLOYED_SIZES, parameterRegistryAbi, parameterRegistryBytecode, reputationAbi, reputationBytecode } from './artifacts.js';
import { CONTRACT_NAMES, compileContracts } from './compiler.js';

describe('contract artefacts', () => {
  it('match a fresh solc-js compile byte for byte', () => {
    // Compiling a subset gives the same bytecode as the full build (it depends only on a
    // contract's own sources); the whole suite takes ~15 s, too long for every test run.
    const { contracts } = compileContracts(['ParameterRegistry', 'Reputation']);
    expect(contracts.ParameterRegistry?.bytecode).toBe(parameterRegistryBytecode);
    expect(contracts.ParameterRegistry?.abi).toEqual(parameterRegistryAbi);
    expect(contracts.Reputation?.bytecode).toBe(reputationBytecode);
    expect(contracts.Reputation?.abi).toEqual(reputationAbi);
  });

  it('fit the EIP-170 code size limit, so they deploy on public networks', () => {
    for (const name of CONTRACT_NAMES) expect(DEPLOYED_SIZES[name]).toBeLessThanOrEqual(24_576);
  });
});
