import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NexusClient } from './client.js';
import { devPrivateKeys, openChain } from './connection.js';
import { nxs } from './deploy.js';
import { loadDeployment, saveDeployment } from './deployment-file.js';
import { startDevNode, type DevNode } from './dev-node.js';

let node: DevNode;
let dir: string;

beforeAll(async () => {
  node = await startDevNode({ port: 0, accounts: 3 });
  dir = mkdtempSync(join(tmpdir(), 'cn-dev-node-'));
});
afterAll(async () => {
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('development node', () => {
  it('serves a deployed, funded suite that a separate connection reaches through its saved deployment', async () => {
    const file = join(dir, 'chain.json');
    saveDeployment(file, node.deployment);
    const deployment = loadDeployment(file);
    const lower = (d: object) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, typeof v === 'string' ? v.toLowerCase() : v]));
    expect(lower(deployment)).toEqual(lower(node.deployment));
    const conn = await openChain({ rpcUrl: node.url, privateKeys: devPrivateKeys(3).slice(2) });
    const client = new NexusClient(conn, deployment, conn.accounts[0]);
    expect(client.account).toBe(node.accounts[2]);
    expect(await client.balanceOf()).toBe(nxs(100_000));
    await client.stake(nxs(100));
    expect(await client.isEligible(client.account)).toBe(true);
  });

  it('refuses a port in use, and missing or malformed deployment files, with one clear error', async () => {
    const port = Number(new URL(node.url).port);
    await expect(startDevNode({ port, accounts: 1 })).rejects.toMatchObject({ code: 'CHAIN_PORT_IN_USE' });
    expect(() => loadDeployment(join(dir, 'none.json'))).toThrow(expect.objectContaining({ code: 'CHAIN_DEPLOYMENT_MISSING' }));
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    expect(() => loadDeployment(join(dir, 'bad.json'))).toThrow(expect.objectContaining({ code: 'CHAIN_DEPLOYMENT_INVALID' }));
    writeFileSync(join(dir, 'field.json'), JSON.stringify({ ...node.deployment, fromBlock: '0', token: '0x12' }));
    expect(() => loadDeployment(join(dir, 'field.json'))).toThrow(expect.objectContaining({ code: 'CHAIN_DEPLOYMENT_INVALID', message: expect.stringContaining("field 'token'") }));
  });
});
