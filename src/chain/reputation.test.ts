import type { Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { reputationAbi } from './artifacts.js';
import { REPUTATION_ONE } from './client.js';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { write } from './transact.js';

let n: EmbeddedNexus;
let clean: Hex;

beforeAll(async () => {
  n = await startEmbeddedNexus({ accounts: 4, parameters: { reputationDecayBps: 9_000n } });
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});

const half = REPUTATION_ONE / 2n;

describe('Reputation', () => {
  it('adds contributions and decays by 0.9 per round since the last record', async () => {
    const [alice, bob] = n.participants;
    await n.coordinator.recordReputation(1n, [
      { account: alice.account, contribution: REPUTATION_ONE, penalty: 0n },
      { account: bob.account, contribution: half, penalty: 0n },
    ]);
    expect(await n.coordinator.reputationsOf([alice.account, bob.account])).toEqual([REPUTATION_ONE, half]);
    // Round 3: alice contributes again, bob is idle and fades with the latest round.
    await n.coordinator.recordReputation(3n, [{ account: alice.account, contribution: REPUTATION_ONE, penalty: 0n }]);
    expect(await n.coordinator.reputationOf(alice.account)).toBe(810_000n + REPUTATION_ONE);
    expect(await n.coordinator.reputationOf(bob.account)).toBe(405_000n);
    expect(await n.coordinator.reputationOf(n.participants[2].account)).toBe(0n);
  });

  it('subtracts misbehaviour penalties, not below zero, and counts them', async () => {
    const [alice] = n.participants;
    await n.coordinator.recordReputation(1n, [{ account: alice.account, contribution: half, penalty: 0n }]);
    await n.coordinator.recordReputation(2n, [{ account: alice.account, contribution: 0n, penalty: REPUTATION_ONE }]);
    expect(await alice.reputationOf(alice.account)).toBe(0n);
    const [, lastRound, misbehaviours] = await n.conn.publicClient.readContract({ address: n.deployment.reputation, abi: reputationAbi, functionName: 'entryOf', args: [alice.account] });
    expect([lastRound, misbehaviours]).toEqual([2n, 1]);
  });

  it('refuses past rounds, out-of-range points, mismatched batches and callers without UPDATER_ROLE', async () => {
    const [alice] = n.participants;
    await n.coordinator.recordReputation(5n, [{ account: alice.account, contribution: half, penalty: 0n }]);
    await expect(n.coordinator.recordReputation(4n, [{ account: alice.account, contribution: 1n, penalty: 0n }])).rejects.toMatchObject({
      errorName: 'RoundInPast',
      args: [alice.account, 5n, 4n],
    });
    await expect(n.coordinator.recordReputation(6n, [{ account: alice.account, contribution: REPUTATION_ONE + 1n, penalty: 0n }])).rejects.toMatchObject({
      errorName: 'PointsOutOfRange',
    });
    const record = (who: number, functionName: string, args: readonly unknown[]) =>
      write(n.conn, n.conn.accounts[who], { address: n.deployment.reputation, abi: reputationAbi, action: functionName, functionName, args } as never);
    await expect(record(0, 'recordBatch', [6n, [alice.account], [1n, 2n], [0n]])).rejects.toMatchObject({ errorName: 'LengthMismatch' });
    await expect(record(0, 'record', [6n, '0x0000000000000000000000000000000000000000', 1n, 0n])).rejects.toMatchObject({ errorName: 'ZeroAddress' });
    await expect(alice.recordReputation(6n, [{ account: alice.account, contribution: REPUTATION_ONE, penalty: 0n }])).rejects.toMatchObject({
      errorName: 'AccessControlUnauthorizedAccount',
    });
  });
});
