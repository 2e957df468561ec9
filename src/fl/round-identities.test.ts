import { describe, expect, it } from 'vitest';
import { checkRoundIdentities } from './round-identities.js';

const key = (byte: number): Uint8Array => new Uint8Array(32).fill(byte);
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const roster = new Map([
  ['alice', key(1)],
  ['bob', key(2)],
]);

describe('checkRoundIdentities', () => {
  it('accepts a round naming roster participants with their own keys', () => {
    expect(() => checkRoundIdentities({ alice: b64(key(1)), bob: b64(key(2)) }, { roster, anonymous: false })).not.toThrow();
  });

  it('refuses a participant the roster lacks, or a roster participant with another key', () => {
    expect(() => checkRoundIdentities({ alice: b64(key(1)), mallory: b64(key(9)) }, { roster, anonymous: false })).toThrow(expect.objectContaining({ code: 'ROUND_IDENTITY_UNKNOWN' }));
    expect(() => checkRoundIdentities({ alice: b64(key(1)), bob: b64(key(9)) }, { roster, anonymous: false })).toThrow(/mallory|bob/);
    // A roster participant's key under another id is a participant the coordinator made up.
    expect(() => checkRoundIdentities({ alice: b64(key(1)), carol: b64(key(2)) }, { roster, anonymous: false })).toThrow(expect.objectContaining({ code: 'ROUND_IDENTITY_UNKNOWN' }));
  });

  it('in an anonymous job checks only that every key is a roster key, since the ids are per connection', () => {
    expect(() => checkRoundIdentities({ 'anon-a': b64(key(1)), 'anon-b': b64(key(1)) }, { roster, anonymous: true })).not.toThrow();
    expect(() => checkRoundIdentities({ 'anon-a': b64(key(1)), 'anon-b': b64(key(7)) }, { roster, anonymous: true })).toThrow(expect.objectContaining({ code: 'ROUND_IDENTITY_UNKNOWN' }));
  });
});

describe('a participant runtime with a roster', () => {
  it('sends nothing of a SecAgg+ or CKKS round that names a participant outside its roster, and says why', async () => {
    const { generateCurveKeyPair } = await import('../core/index.js');
    const { ParticipantRuntime } = await import('./participant.js');
    const outputs: { kind: string; reason?: string }[] = [];
    const runtime = new ParticipantRuntime({
      id: 'alice',
      numExamples: 10,
      train: () => new Promise(() => undefined),
      identity: generateCurveKeyPair('ed25519').privateKey,
      send: (output) => outputs.push(output as { kind: string; reason?: string }),
      identities: { roster, anonymous: false },
    });
    const task = (identityKeys: Record<string, string>) =>
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
        protection: { kind: 'ckks', preset: 'n8192', committee: ['alice'], minContributors: 2, weights: { alice: 10, mallory: 10 }, identityKeys },
      }) as unknown as Parameters<typeof runtime.onTask>[0];
    runtime.onTask(task({ alice: b64(key(1)), mallory: b64(key(9)) }), new Float32Array(4));
    expect(outputs).toEqual([{ kind: 'failed', roundId: 'r1', reason: expect.stringMatching(/^ROUND_IDENTITY_UNKNOWN: .*'mallory'/) }]);
  });
});
