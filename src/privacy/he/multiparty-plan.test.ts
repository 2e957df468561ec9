import { describe, expect, it } from 'vitest';
import { FLOOD_SECURITY_BITS, PRECISION_BITS, multipartyPlan } from './multiparty-plan.js';
import { PRESETS } from './params.js';
import { SealRuntime } from './seal.js';

async function moduli(preset: keyof typeof PRESETS): Promise<bigint[]> {
  const runtime = await SealRuntime.shared();
  return Array.from(runtime.context(PRESETS[preset]).context.keyContextData.parms.coeffModulus);
}

describe('multi-party CKKS plan', () => {
  it('puts n8192 with 3 holders at the top level, scale 2^107, flooding 2^71, 30 bits of message room', async () => {
    const plan = multipartyPlan(PRESETS.n8192, await moduli('n8192'), 3);
    expect(plan).toMatchObject({ level: 2, scaleBits: 107, floodBits: 71, messageBits: 30, maxParticipants: 2048, slots: 4096 });
  });

  it('satisfies its own inequalities: flooding hides the noise, stays below the precision, and everything fits in q/2', async () => {
    for (const preset of ['n8192', 'n16384'] as const) {
      const q = await moduli(preset);
      for (const holders of [1, 3, 16]) {
        const plan = multipartyPlan(PRESETS[preset], q, holders);
        const n = plan.params.polyModulusDegree;
        const noise = 12 * Math.sqrt(plan.maxParticipants) * Math.sqrt(10.5 * (1 + (4 * n * holders) / 3) + 0.25);
        // Smudging: N * B_e / 2^(f+1) <= 2^-40 for a whole share.
        expect(Math.log2((n * noise) / 2 ** (plan.floodBits + 1))).toBeLessThanOrEqual(-FLOOD_SECURITY_BITS);
        // Precision: K holders' flooding in a slot has deviation <= 2^-30.
        expect(Math.log2((Math.sqrt((n * holders) / 6) * 2 ** plan.floodBits) / 2 ** plan.scaleBits)).toBeLessThanOrEqual(-PRECISION_BITS);
        // Room: Delta 2^m + B_e + K 2^f < q/2 at the chosen level.
        const log2q = q.slice(0, plan.level + 1).reduce((s, p) => s + Math.log2(Number(p)), 0);
        const total = 2 ** (plan.scaleBits + plan.messageBits) + noise + holders * 2 ** plan.floodBits;
        expect(Math.log2(total)).toBeLessThan(log2q - 1);
      }
    }
  });

  it('costs a bit of message room as the committee grows, and refuses n4096, which has no room for flooding', async () => {
    const q = await moduli('n8192');
    expect(multipartyPlan(PRESETS.n8192, q, 16).messageBits).toBeLessThan(multipartyPlan(PRESETS.n8192, q, 3).messageBits);
    expect(() => multipartyPlan(PRESETS.n4096, [18014398509404161n, 36028797018652673n], 3)).toThrow(expect.objectContaining({ code: 'HE_PARAMS_INVALID' }));
  });
});
