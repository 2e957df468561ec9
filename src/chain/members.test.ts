import fc from 'fast-check';
import { parseEventLogs, type Hex } from 'viem';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIdentity, encodeMembershipProof, Membership, MerkleTree, poseidon, SCALAR_FIELD, TREE_DEPTH, type Identity, type MembershipProof } from '../privacy/zk/index.js';
import { memberRegistryAbi, membershipVerifierAbi, nexusTokenAbi } from './artifacts.js';
import { nxs } from './deploy.js';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { groth16Args, MemberRegistryClient, proofWords } from './members.js';
import { write } from './transact.js';

const SCOPE = 0x5c0e_0001n;
const SIGNAL = 987654321n;

let n: EmbeddedNexus;
let clean: Hex;
let membership: Membership;
let alice: Identity;
let bob: Identity;
// Proved once against the tree holding alice and bob: proofs cost about a second each.
let proof: MembershipProof;
let registeredRoot: bigint;

const registry = (who: number): MemberRegistryClient => new MemberRegistryClient(n.conn, n.deployment, n.conn.accounts[who]);
const verifyCall = (p: MembershipProof) =>
  n.conn.publicClient.simulateContract({
    address: n.deployment.members,
    abi: memberRegistryAbi,
    functionName: 'verifyMembership',
    args: [p.root, p.nullifier, p.signalHash, p.scope, proofWords(p)],
    account: n.conn.accounts[3],
  });

beforeAll(async () => {
  membership = Membership.open(1);
  n = await startEmbeddedNexus({ accounts: 4 });
  const [p1, p2] = n.participants;
  await p1.stake(nxs(100));
  await p2.stake(nxs(100));
  alice = createIdentity(11n);
  bob = createIdentity(22n);
  await registry(1).register(alice.commitment);
  await registry(2).register(bob.commitment);
  const tree = await registry(3).tree();
  registeredRoot = tree.root;
  proof = await membership.prove({ identity: bob, path: tree.path(1), scope: SCOPE, signalHash: SIGNAL });
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});
afterAll(() => membership?.close());

describe('MemberRegistry', () => {
  it('keeps the same depth-20 Poseidon tree on chain as src/privacy/zk computes', async () => {
    const expected = new MerkleTree();
    expected.insert(alice.commitment);
    expected.insert(bob.commitment);
    expect(await registry(0).root()).toBe(expected.root);
    expect(registeredRoot).toBe(expected.root);
    const view = (level: bigint) => n.conn.publicClient.readContract({ address: n.deployment.members, abi: memberRegistryAbi, functionName: 'zeroNode', args: [level] });
    expect(await view(1n)).toBe(poseidon([0n, 0n]));
    expect(await view(BigInt(TREE_DEPTH))).toBe(new MerkleTree().root);
    expect(await registry(0).memberOf(n.addresses[2])).toEqual({ commitment: bob.commitment, index: 1 });
    expect(await registry(0).memberCount()).toBe(2);
  });

  it('admits only accounts with the minimum active stake, one commitment each, each commitment once', async () => {
    const carol = n.participants[2];
    const carolRegistry = registry(3);
    await expect(carolRegistry.register(createIdentity(33n).commitment)).rejects.toMatchObject({ errorName: 'InsufficientStake', args: [carol.account, 0n, nxs(100)] });
    await carol.stake(nxs(99));
    await expect(carolRegistry.register(createIdentity(33n).commitment)).rejects.toMatchObject({ errorName: 'InsufficientStake', args: [carol.account, nxs(99), nxs(100)] });
    await carol.stake(nxs(1));
    await expect(carolRegistry.register(alice.commitment)).rejects.toMatchObject({ errorName: 'CommitmentTaken' });
    await expect(carolRegistry.register(0n)).rejects.toMatchObject({ errorName: 'InvalidCommitment' });
    await expect(carolRegistry.register(SCALAR_FIELD)).rejects.toMatchObject({ errorName: 'InvalidCommitment' });
    expect((await carolRegistry.register(createIdentity(33n).commitment)).index).toBe(2);
    await expect(carolRegistry.register(createIdentity(34n).commitment)).rejects.toMatchObject({ errorName: 'AlreadyMember', args: [carol.account] });
  });

  it('removes a member whose active stake fell below the minimum, at anyone’s call, leaving the others’ paths valid', async () => {
    const [alicesAccount] = n.participants;
    const anyone = registry(0);
    await expect(anyone.removeUnstaked(alicesAccount.account)).rejects.toMatchObject({ errorName: 'StillStaked' });
    await expect(anyone.removeUnstaked(n.addresses[3])).rejects.toMatchObject({ errorName: 'NotMember' });
    await alicesAccount.requestUnstake(nxs(1));
    const tx = await anyone.removeUnstaked(alicesAccount.account);
    const [removed] = parseEventLogs({ abi: memberRegistryAbi, logs: tx.receipt.logs, eventName: 'MemberRemoved' });
    expect(removed.args).toMatchObject({ account: alicesAccount.account, commitment: alice.commitment, index: 0n });
    const expected = new MerkleTree();
    expected.insert(alice.commitment);
    expected.insert(bob.commitment);
    expected.update(0, 0n);
    expect(await anyone.root()).toBe(expected.root);
    expect((await anyone.tree()).root).toBe(expected.root);
    expect(await anyone.memberCount()).toBe(1);
    // Staked again, alice may come back under a new leaf.
    await alicesAccount.stake(nxs(1));
    expect((await registry(1).register(alice.commitment)).index).toBe(2);
  });

  it('verifies a valid proof on chain and spends its nullifier in its scope', async () => {
    const tx = await registry(3).verifyMembership(proof);
    const [verified] = parseEventLogs({ abi: memberRegistryAbi, logs: tx.receipt.logs, eventName: 'MembershipVerified' });
    expect(verified.args).toMatchObject({ scope: SCOPE, nullifier: proof.nullifier, signal: SIGNAL, root: registeredRoot });
    expect(await registry(0).isNullifierUsed(SCOPE, proof.nullifier)).toBe(true);
    await expect(registry(0).verifyMembership(proof)).rejects.toMatchObject({ errorName: 'NullifierAlreadyUsed', args: [SCOPE, proof.nullifier] });
  });

  it('refuses each tampering with its own error: signal, root, scope, nullifier, proof bytes', async () => {
    const anyone = registry(3);
    await expect(anyone.verifyMembership({ ...proof, signalHash: SIGNAL + 1n })).rejects.toMatchObject({ errorName: 'InvalidProof' });
    await expect(anyone.verifyMembership({ ...proof, root: registeredRoot + 1n })).rejects.toMatchObject({ errorName: 'UnknownRoot', args: [registeredRoot + 1n] });
    await expect(anyone.verifyMembership({ ...proof, scope: SCOPE + 1n })).rejects.toMatchObject({ errorName: 'InvalidProof' });
    await expect(anyone.verifyMembership({ ...proof, nullifier: proof.nullifier + 1n })).rejects.toMatchObject({ errorName: 'InvalidProof' });
    for (const word of [0, 3, 7]) {
      const flipped = { ...proof, points: proof.points.map((p, i) => (i === word ? p ^ 1n : p)) };
      await expect(anyone.verifyMembership(flipped)).rejects.toMatchObject({ errorName: 'InvalidProof' });
    }
    // None of the refusals spent the nullifier.
    expect(await anyone.isNullifierUsed(SCOPE, proof.nullifier)).toBe(false);
  });

  it('accepts a replaced root for its validity window only', async () => {
    const carol = n.participants[2];
    await carol.stake(nxs(100));
    await registry(3).register(createIdentity(33n).commitment);
    expect(await registry(0).isKnownRoot(registeredRoot)).toBe(true);
    await n.conn.increaseTime(3_601);
    await expect(registry(0).verifyMembership(proof)).rejects.toMatchObject({ errorName: 'UnknownRoot', args: [registeredRoot] });
    // Rebuilt from events as it stood at that root, the tree still gives bob's path.
    expect((await registry(0).tree(registeredRoot)).path(1).root).toBe(registeredRoot);
  });

  it('gives the same verdict on chain as off chain for random tamperings of each word, and accepts the untouched proof', async () => {
    const words = (p: MembershipProof) => [...p.points, p.nullifier, p.root, p.scope, p.signalHash];
    const fromWords = (w: bigint[]): MembershipProof => ({ points: w.slice(0, 8), nullifier: w[8], root: w[9], scope: w[10], signalHash: w[11] });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 11 }), fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: SCALAR_FIELD - 1n })), async (word, delta) => {
        const w = words(proof);
        // Public signals stay field elements, so off chain the pairing decides rather than the decoder.
        w[word] = word < 8 ? (w[word] + delta) % (1n << 256n) : (w[word] + delta) % SCALAR_FIELD;
        const tampered = fromWords(w);
        // The off-chain verifier is told to expect what the tampered proof claims, as the contract has no other expectation.
        const offChain = await membership.verify(encodeMembershipProof(tampered), { roots: [registeredRoot], scope: tampered.scope, signalHash: tampered.signalHash }).then(
          () => 'accepted',
          (e: { code?: string }) => e.code,
        );
        const onChain = await verifyCall(tampered).then(
          () => 'accepted',
          (e: Error) => (/UnknownRoot/.test(e.message) ? 'ZK_ROOT_UNKNOWN' : /InvalidProof/.test(e.message) ? 'ZK_PROOF_INVALID' : e.message),
        );
        if (delta === 0n) {
          expect([offChain, onChain]).toEqual(['accepted', 'accepted']);
        } else {
          expect(onChain).not.toBe('accepted');
          expect(offChain).not.toBe('accepted');
          // A coordinate pushed past q is refused by the decoder off chain and by the precompile on chain.
          if (offChain !== 'ZK_PROOF_MALFORMED') expect(onChain).toBe(offChain);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('verifies on chain within budget: the Groth16 check under 250k gas, with the nullifier recorded under Semaphore V4’s 286k', async () => {
    const transfer = await write(n.conn, n.conn.accounts[1], { address: n.deployment.token, abi: nexusTokenAbi, action: 'transfer', functionName: 'transfer', args: [n.addresses[2], nxs(1)] });
    const verifierOnly = await n.conn.publicClient.estimateContractGas({
      address: n.deployment.membershipVerifier,
      abi: membershipVerifierAbi,
      functionName: 'verifyProof',
      args: groth16Args(proof),
      account: n.conn.accounts[3],
    });
    const verified = await registry(3).verifyMembership(proof);
    expect(verifierOnly).toBeLessThan(250_000n);
    expect(verified.gasUsed).toBeLessThan(286_000n);
    // The nullifier's new storage slot is most of the difference.
    expect(verified.gasUsed - verifierOnly).toBeGreaterThan(20_000n);
    expect(verified.gasUsed).toBeGreaterThan(4n * transfer.gasUsed);
  });
});
