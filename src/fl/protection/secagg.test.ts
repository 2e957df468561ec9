import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRoundConfig, generateIdentity } from '../../privacy/secagg/index.js';
import type { SecAggTaskProtection } from '../participant-channel.js';
import { SecAggParticipant } from './secagg.js';

// The weight a SecAgg+ participant applies before masking is fixed by the round's task: the coordinator
// cannot see it afterwards, so the participant's own runtime holds it to what it declared.
const IDS = ['p1', 'p2', 'p3'];

describe('a SecAgg+ participant’s weight', () => {
  const identities = new Map(IDS.map((id) => [id, generateIdentity()]));
  const identityKeys = Object.fromEntries(IDS.map((id) => [id, Buffer.from(identities.get(id)?.publicKey as Uint8Array).toString('base64')]));
  const key = identities.get('p1')?.privateKey as KeyObject;
  const protection = (weight: number, totalWeight: number): SecAggTaskProtection => ({
    kind: 'secagg',
    config: { ...createRoundConfig({ participants: IDS, vectorLength: 8, clip: 1, roundId: 'round-w' }) },
    identityKeys,
    weighting: { kind: 'examples', weight, totalWeight },
  });

  it('is taken from the task when it is within the participant’s declared examples', () => {
    const participant = new SecAggParticipant('p1', protection(300, 900), key, 300, 1);
    expect(participant.advertiseKeys().byteLength).toBeGreaterThan(0);
  });

  it('is refused above the examples the participant declared, or above the round total', () => {
    expect(() => new SecAggParticipant('p1', protection(301, 900), key, 300, 1)).toThrow(expect.objectContaining({ code: 'SECAGG_WEIGHT_INVALID' }));
    expect(() => new SecAggParticipant('p1', protection(300, 200), key, 300, 1)).toThrow(/weigh its update by 300 of 200; it declared 300/);
  });
});
