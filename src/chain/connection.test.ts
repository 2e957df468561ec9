import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NexusClient } from './client.js';
import { devPrivateKeys, openChain } from './connection.js';
import { deployNexus, nxs } from './deploy.js';
import { createEmbeddedProvider } from './edr-provider.js';
import { serveJsonRpc, type RpcServer } from './rpc-server.js';

let server: RpcServer;

beforeAll(async () => {
  server = await serveJsonRpc(await createEmbeddedProvider({ privateKeys: devPrivateKeys(3) }));
});
afterAll(async () => server.close());

describe('chain connection', () => {
  it('derives the development accounts of Hardhat and Anvil from their mnemonic', () => {
    // Published account #0 and #1 of `npx hardhat node` / `anvil`.
    expect(devPrivateKeys(2)).toEqual([
      '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
      '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
    ]);
  });

  it('runs the same client against a JSON-RPC URL as against the in-process EVM', async () => {
    const conn = await openChain({ rpcUrl: server.url, privateKeys: devPrivateKeys(3) });
    expect(conn.kind).toBe('rpc');
    expect(conn.chain.id).toBe(31337);
    const deployment = await deployNexus(conn, { allocations: [{ account: conn.accounts[1].address, amount: nxs(500) }] });
    const participant = new NexusClient(conn, deployment, conn.accounts[1]);
    await participant.stake(nxs(100));
    expect(await participant.isEligible(participant.account)).toBe(true);
    await expect(participant.requestUnstake(nxs(101))).rejects.toMatchObject({ errorName: 'InsufficientStake' });
    await conn.increaseTime(60);
    const posted = await participant.as(conn.accounts[0].address).postRewardRoot(1n, [{ account: participant.account, amount: nxs(7) }]);
    await participant.claimFromTree(1n, posted.tree);
    expect(await participant.balanceOf()).toBe(nxs(407));
  });

  it('refuses malformed keys and URLs with a clear error', async () => {
    await expect(openChain({ privateKeys: ['0x1234'] })).rejects.toMatchObject({ code: 'CHAIN_BAD_KEY' });
    await expect(openChain({ privateKeys: [] })).rejects.toMatchObject({ code: 'CHAIN_NO_KEYS' });
    await expect(openChain({ rpcUrl: 'ftp://example' })).rejects.toMatchObject({ code: 'CHAIN_BAD_RPC_URL' });
  });
});
