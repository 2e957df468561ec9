import { describe, expect, it } from 'vitest';
import { demoConfig, JobConfigSchema } from './job-config.js';
import { resumesAfterRestart } from './round-opening.js';

describe('resumesAfterRestart', () => {
  it('resumes only a plain round of a named-member job; protected and anonymous rounds start again', () => {
    const privacy = (extra: Record<string, unknown>) => JobConfigSchema.parse({ ...demoConfig(), privacy: extra }).privacy;
    expect(resumesAfterRestart(privacy({}))).toBe(true);
    expect(resumesAfterRestart(privacy({ dp: { mode: 'sample', noiseMultiplier: 1, clipNorm: 1, budget: { epsilon: 10 } } }))).toBe(true);
    for (const protectedRound of [{ secagg: true }, { he: 'ckks' }, { tee: 'simulated' }, { anonymous: true }, { anonymous: true, he: 'ckks' }]) {
      expect(resumesAfterRestart(privacy(protectedRound)), JSON.stringify(protectedRound)).toBe(false);
    }
  });
});
