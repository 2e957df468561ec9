import { stringToHex, type Address } from 'viem';
import { beforeAll, describe, expect, it } from 'vitest';
import { parameterRegistryAbi, parameterRegistryBytecode } from './artifacts.js';
import { openChain, type ChainConnection } from './connection.js';
import { DEFAULT_PARAMETERS } from './deploy.js';
import { write } from './transact.js';

let conn: ChainConnection;
let registry: Address;

beforeAll(async () => {
  // A registry owned by an ordinary account, so every bound can be probed without a vote;
  // governance.test.ts shows the suite's registry obeying only the timelock.
  conn = await openChain({ devAccounts: 2 });
  const hash = await conn.walletFor(conn.accounts[0]).deployContract({ abi: parameterRegistryAbi, bytecode: parameterRegistryBytecode, args: [conn.accounts[0].address, DEFAULT_PARAMETERS] });
  registry = (await conn.publicClient.waitForTransactionReceipt({ hash })).contractAddress!;
});

const set = (who: number, functionName: string, value: bigint) =>
  write(conn, conn.accounts[who], { address: registry, abi: parameterRegistryAbi, action: functionName, functionName, args: [value] } as never);
const name = (text: string) => stringToHex(text, { size: 32 });

describe('ParameterRegistry', () => {
  it('returns every parameter and emits ParameterChanged on a change by its owner', async () => {
    expect(await conn.publicClient.readContract({ address: registry, abi: parameterRegistryAbi, functionName: 'parameters' })).toEqual(DEFAULT_PARAMETERS);
    const tx = await set(0, 'setMinimumStake', 5n);
    const [log] = tx.receipt.logs;
    expect(log.topics[1]).toBe(name('minimumStake'));
    expect(await conn.publicClient.readContract({ address: registry, abi: parameterRegistryAbi, functionName: 'minimumStake' })).toBe(5n);
  });

  it('lets no one but its owner change anything', async () => {
    for (const setter of ['setRewardPerRound', 'setMinimumStake', 'setSlashFractionBps', 'setDefaultPrivacyBudgetMilli', 'setUnstakeCooldown', 'setClaimWindow', 'setReputationDecayBps', 'setMaxRewardPerEpoch', 'setRewardEpoch', 'setSlashChallengePeriod']) {
      await expect(set(1, setter, 1n)).rejects.toMatchObject({ errorName: 'OwnableUnauthorizedAccount', args: [conn.accounts[1].address] });
    }
  });

  it('refuses values out of range with ParameterOutOfRange', async () => {
    const cases: [string, string, bigint][] = [
      ['setSlashFractionBps', 'slashFractionBps', 10_001n],
      ['setDefaultPrivacyBudgetMilli', 'defaultPrivacyBudgetMilli', 0n],
      ['setUnstakeCooldown', 'unstakeCooldown', 365n * 86_400n + 1n],
      ['setClaimWindow', 'claimWindow', 3_599n],
      ['setClaimWindow', 'claimWindow', 365n * 86_400n + 1n],
      ['setReputationDecayBps', 'reputationDecayBps', 10_001n],
      ['setRewardEpoch', 'rewardEpoch', 3_599n],
      ['setRewardEpoch', 'rewardEpoch', 365n * 86_400n + 1n],
      ['setSlashChallengePeriod', 'slashChallengePeriod', 3_599n],
      ['setSlashChallengePeriod', 'slashChallengePeriod', 90n * 86_400n + 1n],
    ];
    for (const [setter, param, value] of cases) {
      await expect(set(0, setter, value)).rejects.toMatchObject({ errorName: 'ParameterOutOfRange', args: [name(param), value] });
    }
    await set(0, 'setSlashFractionBps', 10_000n);
    await set(0, 'setSlashChallengePeriod', 90n * 86_400n);
    await set(0, 'setRewardEpoch', 3_600n);
    await set(0, 'setMaxRewardPerEpoch', 0n);
  });
});
