import { describe, expect, it } from 'vitest';
import { convergeTcb, type IntelTcbStatus, type MatchedTcbLevel } from './tcb.js';

const level = (status: IntelTcbStatus, advisoryIds: string[] = []): MatchedTcbLevel => ({ status, tcbDate: '2024-03-13T00:00:00Z', advisoryIds });

describe('convergeTcb', () => {
  it.each([
    ['UpToDate', 'UpToDate', 'up-to-date'],
    ['SWHardeningNeeded', 'UpToDate', 'sw-hardening-needed'],
    ['UpToDate', 'OutOfDate', 'out-of-date'],
    ['SWHardeningNeeded', 'OutOfDate', 'out-of-date'],
    ['ConfigurationNeeded', 'OutOfDate', 'out-of-date-configuration-needed'],
    ['ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'out-of-date-configuration-needed'],
    ['OutOfDate', 'OutOfDate', 'out-of-date'],
    ['UpToDate', 'Revoked', 'revoked'],
    ['Revoked', 'UpToDate', 'revoked'],
  ] as const)('platform %s with QE %s is %s', (platform, qe, expected) => {
    expect(convergeTcb(level(platform), level(qe)).status).toBe(expected);
  });

  it("lists both levels' advisories once each, sorted", () => {
    const evaluation = convergeTcb(level('OutOfDate', ['INTEL-SA-00615', 'INTEL-SA-00161']), level('OutOfDate', ['INTEL-SA-00615', 'INTEL-SA-00334']));
    expect(evaluation.advisoryIds).toEqual(['INTEL-SA-00161', 'INTEL-SA-00334', 'INTEL-SA-00615']);
  });
});
