import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientAgent } from '../src/client/index.js';
import { verifyAuditTrail } from '../src/core/index.js';
import { AnonymousMember, demoConfig } from '../src/fl/index.js';
import { loadParticipantKit, provisionWithLocalKeys } from '../src/identity/index.js';
import { MemberRegistryClient, devPrivateKeys, loadDeployment, NexusClient, nxs, openChain } from '../src/chain/index.js';
import { createIdentity, Membership, memberPath, MerkleTree, writeIdentityFile, type Identity } from '../src/privacy/zk/index.js';
import { freePort } from './support/free-port.js';
import { runCli, startChainServe, writeParticipantData, type ChainServe, type CliProcess } from './support/network.js';

// Five members, each registered in MemberRegistry on a development chain by a staked account (member 0 with the CLI),
// and an account without stake that cannot register. All members hold one shared kit ("member"): TLS and frame
// signatures say only "a member of this job".
const MEMBERS = 5;
const ROUNDS = 2;
// Development accounts of `chain serve`: 0 the operator, 1..MEMBERS the members, the next one unstaked.
const UNSTAKED = MEMBERS + 1;

describe('an anonymous job across processes: 5 members prove membership instead of naming themselves', () => {
  let dir: string;
  let kitDir: string;
  let identities: Identity[];
  let data: Map<string, string>;
  let zk: Membership;
  let chain: ChainServe;
  let deployment: string;
  let registry: MemberRegistryClient;
  const onChain = (): string[] => ['--rpc', chain.rpc, '--deployment', deployment];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-anonymous-'));
    deployment = join(dir, 'chain.json');
    const started = startChainServe(dir, deployment, UNSTAKED + 1);
    kitDir = join(dir, 'kits');
    const port = await freePort();
    await provisionWithLocalKeys({ outDir: kitDir, participants: ['member'], serverHost: '127.0.0.1', serverPort: port });
    identities = Array.from({ length: MEMBERS + 1 }, () => createIdentity());
    identities.forEach((identity, i) => writeIdentityFile(join(dir, `identity-${i}.json`), identity));
    chain = await started;
    const conn = await openChain({ rpcUrl: chain.rpc, privateKeys: devPrivateKeys(UNSTAKED + 1) });
    const contracts = loadDeployment(deployment);
    registry = new MemberRegistryClient(conn, contracts);
    for (let i = 0; i < MEMBERS; i++) {
      await new NexusClient(conn, contracts, conn.accounts[i + 1]).stake(nxs(100));
      if (i > 0) await new MemberRegistryClient(conn, contracts, conn.accounts[i + 1]).register(identities[i].commitment);
    }
    const cli = runCli([...onChain(), '--dev-account', '1', 'member', 'register', '--identity', join(dir, 'identity-0.json')], dir);
    expect(await cli.exit, cli.output()).toBe(0);
    // The last identity's account holds no stake: the registry refuses it.
    const unstaked = runCli([...onChain(), '--dev-account', String(UNSTAKED), 'member', 'register', '--identity', join(dir, `identity-${MEMBERS}.json`)], dir);
    expect(await unstaked.exit).toBe(1);
    expect(unstaked.output()).toMatch(/InsufficientStake/);
    expect(await registry.memberCount()).toBe(MEMBERS);
    data = writeParticipantData(
      dir,
      identities.slice(0, MEMBERS).map((_, i) => `member-${i}`),
    );
    writeFileSync(
      join(dir, 'job.json'),
      JSON.stringify({
        name: 'anonymous-e2e',
        seed: 3,
        data: demoConfig().data,
        rounds: ROUNDS,
        // Six connections take part: the five members and member 0's second connection, so both of member 0's are
        // selected every round and one of its two updates is refused each time.
        selection: { fraction: 1, minClients: MEMBERS + 1 },
        model: { type: 'mlp', hidden: [16] },
        training: { epochs: 1, batchSize: 64, learningRate: 0.01, optimizer: 'adam' },
        // A member's second connection is selected like any connection; the round closes without it (its update is
        // refused and excused), so the quorum must leave room for it.
        round: { quorum: 0.8, deadlineSeconds: 120 },
        // Anonymous training combines with CKKS (a committee of two connections) and with DP-SGD on each member.
        privacy: { anonymous: true, he: 'ckks', heCommittee: 2, dp: { mode: 'sample', noiseMultiplier: 1, clipNorm: 1, budget: { epsilon: 100 } } },
      }),
    );
    zk = Membership.open(1);
  }, 120_000);
  afterAll(async () => {
    await zk?.close();
    await chain?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const libraryAgent = (identity: Identity, tree: MerkleTree, csv: string): ClientAgent =>
    new ClientAgent({ kit: loadParticipantKit(join(kitDir, 'participants', 'member', 'kit.json')), dataFile: csv, anonymous: new AnonymousMember(zk, identity, memberPath(tree, identity)), backoff: { initialMs: 200, maxMs: 1000 } });

  it('accepts one update per member per round, refuses a second connection of a member and an unstaked identity, and keeps no member identity', async () => {
    const db = join(dir, 'coordinator.db');
    const reportFile = join(dir, 'report.json');
    const coordinator = runCli(['--db', db, 'serve', '--config', join(dir, 'job.json'), '--kit-dir', kitDir, '--members', 'registry', ...onChain(), '--operator-port', '0', '--report', reportFile, '--log-level', 'info'], dir);
    const kit = join(kitDir, 'participants', 'member', 'kit.json');
    const members: CliProcess[] = identities
      .slice(0, MEMBERS)
      .map((_, i) => runCli([...onChain(), 'client', '--key', kit, '--data', data.get(`member-${i}`) as string, '--identity', join(dir, `identity-${i}.json`), '--members', 'registry'], dir));
    // Member 0 connects a second time, and the unstaked identity, with a tree of its own, tries to join.
    const twice = libraryAgent(identities[0], await registry.tree(), data.get('member-0') as string);
    const refusedTwice: string[] = [];
    twice.on('refused', (e: { code: string }) => refusedTwice.push(e.code));
    const outsider = identities[MEMBERS];
    const ownTree = new MerkleTree();
    ownTree.insert(outsider.commitment);
    const stranger = libraryAgent(outsider, ownTree, data.get('member-1') as string);
    const agents = Promise.allSettled([twice.run(), stranger.run()]);
    const code = await Promise.race([coordinator.exit, new Promise<number>((r) => setTimeout(() => r(-99), 330_000))]);
    if (code === -99) {
      twice.stop();
      stranger.stop();
      for (const p of [coordinator, ...members]) p.child.kill();
    }
    expect(code, `${coordinator.output()}\n---\n${members.map((m) => m.output()).join('\n---\n')}`).toBe(0);
    const [twiceResult, strangerResult] = await agents;
    for (const member of members) expect(await member.exit, member.output()).toBe(0);
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    expect(report.status).toBe('completed');
    expect(report.acceptedPerRound).toEqual(Array(ROUNDS).fill(MEMBERS));
    // CKKS and DP ran alongside: the coordinator added ciphertexts, each round was charged, and no member's training loss released.
    // A CKKS ciphertext of this 1,210-parameter model is hundreds of kilobytes; its plain float32 delta would be 4,840 bytes.
    expect(report.rounds.every((r: { bytesPerClient: number }) => r.bytesPerClient > 100_000)).toBe(true);
    expect(report.epsilon).toBeGreaterThan(0);
    expect(report.rounds.every((r: { epsilon?: number; trainLoss?: number }) => r.epsilon !== undefined && r.trainLoss === undefined)).toBe(true);
    // Whichever of member 0's two updates came second in a round was refused.
    const refusals = [...refusedTwice, ...members[0].output().matchAll(/refused \[(ZK_\w+)\]/g)].map((m) => (typeof m === 'string' ? m : m[1]));
    expect(refusals, readFileSync(join(dir, 'audit.jsonl'), 'utf8').replace(/"(prevHash|hash)":"\w+"/g, '')).toContain('ZK_NULLIFIER_REUSED');
    expect(twiceResult.status, String((twiceResult as PromiseRejectedResult).reason)).toBe('fulfilled');
    expect(strangerResult).toMatchObject({ status: 'rejected', reason: { code: 'ZK_ROOT_UNKNOWN' } });

    // What the coordinator keeps: updates under random per-connection ids, and no member's commitment or secret anywhere.
    const reader = new Database(db, { readonly: true });
    const clientIds = (reader.prepare('SELECT client_id FROM updates').all() as { client_id: string }[]).map((r) => r.client_id);
    const dump = (reader.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[])
      .map(({ name }) => JSON.stringify(reader.prepare(`SELECT * FROM "${name}"`).all(), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)))
      .join('\n');
    reader.close();
    expect(clientIds).toHaveLength(ROUNDS * MEMBERS);
    for (const id of clientIds) expect(id).toMatch(/^anon-[A-Za-z0-9_-]{12}$/);
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    expect(verifyAuditTrail(join(dir, 'audit.jsonl')).ok).toBe(true);
    // Both of member 0's connections were selected every round: one refusal a round.
    expect(audit.match(/"code":"ZK_NULLIFIER_REUSED"/g)).toHaveLength(ROUNDS);
    for (const identity of identities) {
      for (const value of [identity.commitment, identity.secret]) {
        for (const text of [String(value), value.toString(16)]) {
          expect(dump).not.toContain(text);
          expect(audit).not.toContain(text);
          expect(coordinator.output()).not.toContain(text);
        }
      }
    }
  }, 480_000);
});
