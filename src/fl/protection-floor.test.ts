import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ClientResult } from './client-training.js';
import { ParticipantRuntime, type ParticipantOutput } from './participant.js';
import type { RemoteTask, TaskProtection } from './participant-channel.js';
import { PROTECTION_KINDS, checkProtectionFloor, parseProtectionFloor } from './protection-floor.js';
import { generateCurveKeyPair } from '../core/index.js';

const task = (protection: TaskProtection): RemoteTask =>
  ({
    jobId: 'job',
    roundId: 'r1',
    round: 1,
    modelVersion: 1,
    sha256: '',
    plan: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
    seed: 1,
    deadline: Date.now() + 60_000,
    releaseLoss: false,
    protection,
  }) as unknown as RemoteTask;

describe('protection floor', () => {
  it('parses any non-empty list of known protections to their set, and refuses a list with an unknown one, naming it', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...PROTECTION_KINDS), { minLength: 1 }), fc.string(), (names, junk) => {
        expect([...parseProtectionFloor(names.join(','))].sort()).toEqual([...new Set(names)].sort());
        const token = junk.trim();
        if (token.length === 0 || token.includes(',') || (PROTECTION_KINDS as readonly string[]).includes(token)) return;
        expect(() => parseProtectionFloor([...names, token].join(','))).toThrow(expect.objectContaining({ code: 'PROTECTION_FLOOR_INVALID', message: expect.stringContaining(`'${token}'`) }));
      }),
    );
    expect(() => parseProtectionFloor(' , ')).toThrow(/got nothing/);
  });

  it('accepts a protection in the floor and refuses any other, saying what was asked and what is accepted', () => {
    const floor = parseProtectionFloor('secagg,ckks');
    expect(() => checkProtectionFloor('secagg', floor)).not.toThrow();
    expect(() => checkProtectionFloor('none', floor)).toThrow(expect.objectContaining({ code: 'PROTECTION_REFUSED', message: expect.stringMatching(/plain updates.*'secagg' or 'ckks'/) }));
    expect(() => checkProtectionFloor('tee', floor)).toThrow(/'tee'/);
  });

  it('a participant runtime refuses a plain round before training when it accepts only SecAgg+, and trains a SecAgg+ one', () => {
    const outputs: ParticipantOutput[] = [];
    let trained = 0;
    const runtime = new ParticipantRuntime({
      id: 'alice',
      numExamples: 10,
      train: () => {
        trained += 1;
        return new Promise<ClientResult>(() => undefined);
      },
      identity: generateCurveKeyPair('ed25519').privateKey,
      send: (output) => outputs.push(output),
      protections: parseProtectionFloor('secagg'),
    });
    runtime.onTask(task({ kind: 'none' }), new Float32Array(4));
    expect(trained).toBe(0);
    expect(outputs).toEqual([{ kind: 'failed', roundId: 'r1', reason: expect.stringMatching(/^PROTECTION_REFUSED: the round asks for plain updates/) }]);
    expect(runtime.roundId).toBeUndefined();
    const secagg = {
      kind: 'secagg',
      config: { threshold: 2, degree: 2, minInputs: 2, clip: 1, stageSeconds: 30, gamma: 0.1, delta: 0.1 },
      identityKeys: {},
      weighting: { kind: 'examples', weight: 10, totalWeight: 30 },
    } as unknown as TaskProtection;
    try {
      runtime.onTask({ ...task(secagg), roundId: 'r2' }, new Float32Array(4));
    } catch {
      // Whether this made-up SecAgg+ round's first stage can be built is not what is tested: training started.
    }
    expect(trained).toBe(1);
  });

});
