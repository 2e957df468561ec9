import { encodeFunctionData, keccak256, parseSignature, toBytes, zeroAddress, type Abi, type Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { nexusTokenAbi, nexusTokenBytecode } from './artifacts.js';
import { deployNexus, nxs } from './deploy.js';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { toChainError } from './errors.js';
import { write } from './transact.js';

let n: EmbeddedNexus;
let clean: Hex;

beforeAll(async () => {
  n = await startEmbeddedNexus({ accounts: 4 });
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});

/** A NexusToken write signed by `who` (0 = the coordinator). */
function token(who: number, functionName: string, args: readonly unknown[]) {
  const account = n.conn.accounts[who];
  return write(n.conn, account, { address: n.deployment.token, abi: nexusTokenAbi, action: functionName, functionName, args } as never);
}

/**
 * A NexusToken call sent as the timelock, which holds PAUSER and COMPLIANCE: the development
 * chain impersonates it, standing in for a passed proposal (governance.test.ts runs the real one).
 */
async function asTimelock(functionName: string, args: readonly unknown[]): Promise<void> {
  const from = n.deployment.timelock;
  const to = n.deployment.token;
  const data = encodeFunctionData({ abi: nexusTokenAbi as Abi, functionName, args });
  const rpc = (method: string, params: unknown[]) => n.conn.publicClient.request({ method, params } as never);
  await rpc('hardhat_impersonateAccount', [from]);
  await rpc('hardhat_setBalance', [from, '0xde0b6b3a7640000']);
  // Simulate first: a reverted send is mined with no revert data to decode.
  await n.conn.publicClient.call({ account: from, to, data }).catch((e: unknown) => Promise.reject(toChainError(functionName, e)));
  await rpc('eth_sendTransaction', [{ from, to, data }]);
}
const view = <T>(functionName: string, args: readonly unknown[]): Promise<T> =>
  n.conn.publicClient.readContract({ address: n.deployment.token, abi: nexusTokenAbi, functionName, args } as never) as Promise<T>;

describe('NexusToken', () => {
  it('launches with the allocations minted, the reward pool funded and minting handed to governance', async () => {
    const [alice] = n.participants;
    expect(await alice.balanceOf()).toBe(nxs(10_000));
    expect(await view('totalSupply', [])).toBe(nxs(4 * 10_000 + 1_000_000));
    expect(await view('name', [])).toBe('Cipher Nexus');
    expect(await view('symbol', [])).toBe('NXS');
    expect(await view('cap', [])).toBe(nxs(1_000_000_000));
    expect(await n.coordinator.rewardPoolAvailable()).toBe(nxs(1_000_000));
    const minter = await view<Hex>('MINTER_ROLE', []);
    expect(await view('hasRole', [minter, n.addresses[0]])).toBe(false);
  });

  it('transfers and reports balances', async () => {
    const [alice, bob] = n.participants;
    await alice.transfer(bob.account, nxs(25));
    expect(await alice.balanceOf()).toBe(nxs(9_975));
    expect(await bob.balanceOf()).toBe(nxs(10_025));
    await expect(alice.transfer(bob.account, nxs(1_000_000))).rejects.toMatchObject({ errorName: 'ERC20InsufficientBalance' });
  });

  it('mints only with MINTER_ROLE and never past the cap', async () => {
    await expect(token(1, 'mint', [n.addresses[1], 1n])).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
    // The suite's deployer renounces minting, so check the cap on a token whose minter is account 1.
    const [, minter] = n.conn.accounts;
    const hash = await n.conn.walletFor(minter).deployContract({
      abi: nexusTokenAbi,
      bytecode: nexusTokenBytecode,
      args: [n.deployment.timelock, minter.address, nxs(100)],
    });
    const address = (await n.conn.publicClient.waitForTransactionReceipt({ hash })).contractAddress!;
    const mint = (amount: bigint) =>
      write(n.conn, minter, { address, abi: nexusTokenAbi, action: 'mint', functionName: 'mint', args: [minter.address, amount] });
    await mint(nxs(100));
    await expect(mint(1n)).rejects.toMatchObject({ errorName: 'ERC20ExceededCap', args: [nxs(100) + 1n, nxs(100)] });
    await expect(deployNexus(n.conn, { cap: nxs(100), rewardPool: nxs(101) })).rejects.toMatchObject({ code: 'CHAIN_DEPLOY_OVER_CAP' });
    const zero = n.conn.walletFor(minter).deployContract({ abi: nexusTokenAbi, bytecode: nexusTokenBytecode, args: [zeroAddress, minter.address, 1n] });
    await expect(zero.catch((e: unknown) => Promise.reject(toChainError('deploy', e)))).rejects.toMatchObject({ errorName: 'ZeroAddress' });
  });

  it('gives the pause and compliance roles to the timelock: the coordinator cannot pause, deny or lock anyone', async () => {
    const [alice] = n.participants;
    for (const name of ['PAUSER_ROLE', 'COMPLIANCE_ROLE']) {
      const role = keccak256(toBytes(name));
      expect(await view('hasRole', [role, n.deployment.timelock])).toBe(true);
      expect(await view('hasRole', [role, n.addresses[0]])).toBe(false);
    }
    const refused = { errorName: 'AccessControlUnauthorizedAccount' };
    await expect(token(0, 'pause', [])).rejects.toMatchObject({ ...refused, args: [n.addresses[0], keccak256(toBytes('PAUSER_ROLE'))] });
    await expect(token(0, 'setDenied', [alice.account, true])).rejects.toMatchObject({ ...refused, args: [n.addresses[0], keccak256(toBytes('COMPLIANCE_ROLE'))] });
    await expect(token(0, 'setLockup', [alice.account, nxs(1), 2n ** 40n])).rejects.toMatchObject(refused);
    expect(await view('paused', [])).toBe(false);
    expect(await view('isDenied', [alice.account])).toBe(false);
  });

  it('pauses every transfer with PAUSER_ROLE and only with it', async () => {
    const [alice, bob] = n.participants;
    await expect(token(1, 'pause', [])).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
    await asTimelock('pause', []);
    await expect(alice.transfer(bob.account, 1n)).rejects.toMatchObject({ errorName: 'EnforcedPause' });
    await expect(alice.stake(nxs(100))).rejects.toMatchObject({ errorName: 'EnforcedPause' });
    await asTimelock('unpause', []);
    await alice.transfer(bob.account, 1n);
  });

  it('keeps a denied account from sending and receiving, with events', async () => {
    const [alice, bob] = n.participants;
    await expect(token(1, 'setDenied', [alice.account, true])).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
    await asTimelock('setDenied', [alice.account, true]);
    expect(await view('isDenied', [alice.account])).toBe(true);
    await expect(alice.transfer(bob.account, 1n)).rejects.toMatchObject({ errorName: 'AccountDenied', args: [alice.account] });
    await expect(bob.transfer(alice.account, 1n)).rejects.toMatchObject({ errorName: 'AccountDenied', args: [alice.account] });
    await asTimelock('setDenied', [alice.account, false]);
    await alice.transfer(bob.account, 1n);
  });

  it('enforces a lock-up until it ends', async () => {
    const [alice, bob] = n.participants;
    const now = (await n.conn.publicClient.getBlock()).timestamp;
    await asTimelock('setLockup', [alice.account, nxs(9_000), now + 1_000n]);
    expect(await view('lockupOf', [alice.account])).toEqual([nxs(9_000), now + 1_000n]);
    expect(await view('transferableBalanceOf', [alice.account])).toBe(nxs(1_000));
    await alice.transfer(bob.account, nxs(1_000));
    await expect(alice.transfer(bob.account, 1n)).rejects.toMatchObject({ errorName: 'TokensLocked', args: [alice.account, 0n, 1n] });
    await n.conn.increaseTime(1_001);
    await alice.transfer(bob.account, nxs(9_000));
    await expect(asTimelock('setLockup', [alice.account, 2n ** 128n, now])).rejects.toMatchObject({ errorName: 'LockupTooLarge' });
    await expect(token(2, 'setLockup', [alice.account, 1n, now])).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
  });

  it('accepts an EIP-2612 permit and counts delegated votes', async () => {
    const [alice, bob] = n.participants;
    const deadline = (await n.conn.publicClient.getBlock()).timestamp + 3_600n;
    const signature = await alice.signer.signTypedData({
      domain: { name: 'Cipher Nexus', version: '1', chainId: n.conn.chain.id, verifyingContract: n.deployment.token },
      types: { Permit: [
        { name: 'owner', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ] },
      primaryType: 'Permit',
      message: { owner: alice.account, spender: bob.account, value: nxs(5), nonce: 0n, deadline },
    });
    const { v, r, s } = parseSignature(signature);
    await token(2, 'permit', [alice.account, bob.account, nxs(5), deadline, Number(v), r, s]);
    expect(await view('allowance', [alice.account, bob.account])).toBe(nxs(5));
    await expect(token(2, 'permit', [alice.account, bob.account, nxs(5), deadline, Number(v), r, s])).rejects.toMatchObject({ errorName: 'ERC2612InvalidSigner' });

    expect(await alice.votesOf()).toBe(0n);
    await alice.delegate();
    expect(await alice.votesOf()).toBe(nxs(10_000));
    await alice.transfer(bob.account, nxs(1_000));
    expect(await alice.votesOf()).toBe(nxs(9_000));
  });
});
