import * as fs from 'node:fs';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WitnessCalculatorBuilder } from 'circom_runtime';
import { curves, groth16, r1cs, wtns } from 'snarkjs';
import { membershipVerifierAbi, nexusTokenAbi } from '../src/chain/artifacts.js';
import { AnonymousVotingClient, groth16Args, MemberRegistryClient, nxs, startEmbeddedNexus } from '../src/chain/index.js';
import { write } from '../src/chain/transact.js';
import {
  createIdentity,
  loadVerificationKey,
  Membership,
  MEMBERSHIP_ARTEFACTS,
  MerkleTree,
  PreparedVerificationKey,
  publicSignalsOf,
  toSnarkjs,
  type MembershipProof,
  type VerificationKeyJson,
} from '../src/privacy/zk/index.js';
import type { BenchResult } from './bench-result.js';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const RUNS = 7;
const VERIFY_RUNS = 20;
const THROUGHPUT_PROOFS = 40;
/** Semaphore V4's published figures (docs and benchmarks, depth-20 trees), shown beside ours, not measured here. */
const SEMAPHORE = { proveSeconds: '0.32-0.54', verifyMs: '10-20', gas: 286_000 };

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(runs: number, run: () => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await run();
    ms.push(performance.now() - started);
  }
  return ms;
}

type CircomRunnerClass = new (options: { args: string[]; env: object; preopens: Record<string, string>; bindings: object }) => { execute(wasm: Uint8Array): Promise<unknown> };

/** Compiles circuits/membership.circom to R1CS (circom2, as `npm run circuits` does) and counts its constraints. */
async function countConstraints(): Promise<{ constraints: number; privateInputs: number; publicInputs: number; outputs: number }> {
  const out = mkdtempSync(join(tmpdir(), 'cn-r1cs-'));
  const { CircomRunner, bindings } = require('circom2') as { CircomRunner: CircomRunnerClass; bindings: object };
  // circom's progress lines go to fds 1 and 2; the bench prints its own table instead.
  const quietFs = { ...fs, writeSync: (fd: number, buffer: Uint8Array, ...rest: unknown[]) => (fd === 1 || fd === 2 ? buffer.length : (fs.writeSync as (...a: unknown[]) => number)(fd, buffer, ...rest)) };
  const runner = new CircomRunner({
    args: ['circuits/membership.circom', '--r1cs', '--O2', '-l', 'lib', '-o', 'out'],
    env: {},
    // The sandbox follows no symlinks out of a preopened folder, so the real folders are mounted.
    preopens: { '.': '.', lib: dirname(realpathSync(join(root, 'node_modules/circomlib'))), out },
    bindings: { ...bindings, fs: quietFs },
  });
  const cwd = process.cwd();
  process.chdir(root);
  try {
    await runner.execute(readFileSync(require.resolve('circom2/circom.wasm')));
    const info = await r1cs.info(join(out, 'membership.r1cs'));
    return { constraints: info.nConstraints, privateInputs: info.nPrvInputs, publicInputs: info.nPubInputs, outputs: info.nOutputs };
  } finally {
    process.chdir(cwd);
    rmSync(out, { recursive: true, force: true });
  }
}

/** Constraints, witness, proving and verifying time of the membership circuit, verification throughput of the worker pool, and on-chain gas beside an ERC-20 transfer. */
export async function benchZk(): Promise<BenchResult> {
  const load = loadavg()[0];
  const circuit = await countConstraints();

  const tree = new MerkleTree();
  const member = createIdentity(4242n);
  tree.insert(member.commitment);
  tree.insert(createIdentity(4343n).commitment);
  const path = tree.path(0);
  const input = {
    secret: String(member.secret),
    pathElements: path.pathElements.map(String),
    pathIndices: path.pathIndices.map(String),
    root: String(path.root),
    scope: '7',
    signalHash: '1',
  };

  // Witness: a calculator compiled once (what the worker keeps) against snarkjs compiling it on every call.
  const wasm = readFileSync(MEMBERSHIP_ARTEFACTS.wasm);
  const zkey = readFileSync(MEMBERSHIP_ARTEFACTS.zkey);
  const calculator = await WitnessCalculatorBuilder(wasm);
  await calculator.calculateWTNSBin(input, 0);
  const witnessCached = await timed(RUNS, () => calculator.calculateWTNSBin(input, 0));
  const witnessFresh = await timed(RUNS, () => wtns.calculate(input, MEMBERSHIP_ARTEFACTS.wasm, { type: 'mem' }));

  // Proving in this process: snarkjs's fullProve from the files, against the worker's way (calculator and key kept).
  // The two alternate, so a change in the machine's load (it is shared) falls on both alike.
  await groth16.fullProve(input, MEMBERSHIP_ARTEFACTS.wasm, MEMBERSHIP_ARTEFACTS.zkey);
  const proveFiles: number[] = [];
  const proveKept: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    proveFiles.push(...(await timed(1, () => groth16.fullProve(input, MEMBERSHIP_ARTEFACTS.wasm, MEMBERSHIP_ARTEFACTS.zkey))));
    proveKept.push(...(await timed(1, async () => groth16.prove({ type: 'mem', data: zkey }, { type: 'mem', data: await calculator.calculateWTNSBin(input, 0) }))));
  }

  // Where a proof's time goes: snarkjs logs each multi-exponentiation's start and end; the rest is FFTs and reading.
  const witness = await calculator.calculateWTNSBin(input, 0);
  const marks: { at: number; message: string }[] = [];
  const note = (message: string): void => void marks.push({ at: performance.now(), message });
  const phaseStarted = performance.now();
  const cpuBefore = process.cpuUsage();
  await groth16.prove({ type: 'mem', data: zkey }, { type: 'mem', data: witness }, { debug: note, info: note, warn: () => {}, error: () => {} });
  const phaseTotal = performance.now() - phaseStarted;
  const cpu = process.cpuUsage(cpuBefore);
  // CPU time of every thread of this process over wall time: how many cores the proof kept busy.
  const coresBusy = (cpu.user + cpu.system) / 1000 / phaseTotal;
  const msm = (name: string): number => {
    const at = (edge: string): number => marks.find((m) => m.message.startsWith(`Multiexp ${edge}: multiexp ${name}:`))?.at ?? Number.NaN;
    return at('end') - at('start');
  };
  const phases = Object.entries({ 'MSM A (G1)': msm('A'), 'MSM B (G1)': msm('B1'), 'MSM B (G2)': msm('B2'), 'MSM C (G1)': msm('C'), 'MSM H (G1)': msm('H') });
  phases.push(['FFTs and the rest', phaseTotal - phases.reduce((sum, [, t]) => sum + t, 0)]);

  // Verifying in this process, one after another: the single-thread baseline.
  const verificationKey = loadVerificationKey();
  const prepared = await PreparedVerificationKey.prepare(verificationKey as VerificationKeyJson);
  const membership = Membership.open(availableParallelism());
  let proof: MembershipProof;
  let proveWorker: number[];
  let verifyOne: number[];
  let verifyPrepared: number[];
  let sequentialPerSecond: number;
  let poolPerSecond: number;
  try {
    const warm = await membership.prove({ identity: member, path, scope: 7n, signalHash: 1n });
    proveWorker = await timed(RUNS, () => membership.prove({ identity: member, path, scope: 7n, signalHash: 1n }));
    proof = warm;
    const signals = publicSignalsOf(proof);
    const snarkProof = toSnarkjs(proof);
    verifyOne = [];
    verifyPrepared = [];
    for (let i = 0; i < VERIFY_RUNS; i++) {
      verifyOne.push(...(await timed(1, () => groth16.verify(verificationKey, signals, snarkProof))));
      verifyPrepared.push(...(await timed(1, async () => prepared.verify(signals, snarkProof))));
    }
    const sequentialStarted = performance.now();
    for (let i = 0; i < THROUGHPUT_PROOFS; i++) prepared.verify(signals, snarkProof);
    sequentialPerSecond = THROUGHPUT_PROOFS / ((performance.now() - sequentialStarted) / 1000);
    const expected = { roots: [path.root], scope: 7n, signalHash: 1n };
    await Promise.all(Array.from({ length: availableParallelism() * 2 }, () => membership.verify(proof, expected)));
    const poolStarted = performance.now();
    await Promise.all(Array.from({ length: THROUGHPUT_PROOFS }, () => membership.verify(proof, expected)));
    poolPerSecond = THROUGHPUT_PROOFS / ((performance.now() - poolStarted) / 1000);
  } finally {
    await membership.close();
  }

  const gas = await measureGas();
  const curve = await curves.getCurveFromName('bn128');
  await curve.terminate();

  const ms = (x: number): number => Number(x.toFixed(1));
  const workers = availableParallelism();
  /** A timed row: our median beside the baseline's, measured in the same run, and the speed-up. */
  const beside = (name: string, ours: number[], baseline: string, theirs: number[]) => ({
    name,
    msMedian: ms(median(ours)),
    runs: ours.length,
    baseline,
    baselineMsMedian: ms(median(theirs)),
    speedup: Number((median(theirs) / median(ours)).toFixed(2)),
  });
  const rows: Record<string, unknown>[] = [
    { kind: 'circuit', name: 'membership (depth-20 Poseidon Merkle tree, nullifier, scope, signal)', ...circuit },
    { kind: 'witness', name: 'witness, calculator kept', msMedian: ms(median(witnessCached)), runs: RUNS, baseline: 'snarkjs wtns.calculate (compiles the wasm each call)', baselineMsMedian: ms(median(witnessFresh)) },
    { kind: 'prove', ...beside('Groth16 prove, calculator and proving key kept (the worker)', proveKept, 'snarkjs groth16.fullProve from the files', proveFiles), semaphoreV4Seconds: SEMAPHORE.proveSeconds },
    ...phases.map(([phase, t]) => ({ kind: 'prove phase', name: phase, ms: ms(t), shareOfProof: Number((t / phaseTotal).toFixed(2)) })),
    { kind: 'prove cores', name: 'cores kept busy during one proof (CPU time of all threads / wall time)', coresBusy: Number(coresBusy.toFixed(2)), cores: availableParallelism() },
    { kind: 'prove', name: 'Membership.prove end to end (worker process, IPC included)', msMedian: ms(median(proveWorker)), runs: RUNS, semaphoreV4Seconds: SEMAPHORE.proveSeconds },
    { kind: 'verify', ...beside('Groth16 verify with the prepared key, in process', verifyPrepared, 'snarkjs groth16.verify', verifyOne), semaphoreV4Ms: SEMAPHORE.verifyMs },
    {
      kind: 'throughput',
      name: `proofs verified per second, worker pool of ${workers}`,
      proofs: THROUGHPUT_PROOFS,
      perSecond: Number(poolPerSecond.toFixed(1)),
      baseline: 'prepared key, one after another in this thread',
      baselinePerSecond: Number(sequentialPerSecond.toFixed(1)),
      ratio: Number((poolPerSecond / sequentialPerSecond).toFixed(2)),
    },
    ...gas.rows,
  ];
  const k = (x: number): string => Math.round(x).toLocaleString('en-US');
  const vs = (g: number): string => `${(g / gas.transfer).toFixed(1)}x`;
  const table = [
    `membership circuit: ${k(circuit.constraints)} constraints, ${circuit.privateInputs} private and ${circuit.publicInputs} public inputs, ${circuit.outputs} output (load average ${load.toFixed(1)} on ${workers} cores)`,
    `                                   ours (median)    baseline in the same run               Semaphore V4 (published)`,
    `witness                        ${`${ms(median(witnessCached))} ms`.padStart(12)}    ${ms(median(witnessFresh))} ms compiling the wasm each call`,
    `prove (kept key, in process)   ${`${ms(median(proveKept))} ms`.padStart(12)}    ${ms(median(proveFiles))} ms fullProve from files (${(median(proveFiles) / median(proveKept)).toFixed(2)}x)   ${SEMAPHORE.proveSeconds} s`,
    `  a proof keeps ${coresBusy.toFixed(2)} of ${workers} cores busy; where its time goes: ${phases.map(([phase, t]) => `${phase} ${Math.round((t / phaseTotal) * 100)}%`).join(', ')}`,
    `prove (Membership, worker)     ${`${ms(median(proveWorker))} ms`.padStart(12)}`,
    `verify (prepared key)          ${`${ms(median(verifyPrepared))} ms`.padStart(12)}    ${ms(median(verifyOne))} ms snarkjs groth16.verify (${(median(verifyOne) / median(verifyPrepared)).toFixed(2)}x)      ${SEMAPHORE.verifyMs} ms`,
    `verified/s, pool of ${workers}          ${poolPerSecond.toFixed(1).padStart(12)}    ${sequentialPerSecond.toFixed(1)}/s one thread (${(poolPerSecond / sequentialPerSecond).toFixed(2)}x)`,
    '',
    `gas on the in-process EVM, beside an ERC-20 transfer (${k(gas.transfer)} gas):`,
    ...gas.rows.map((r) => `${String(r.name).padEnd(64)} ${k(Number(r.gas)).padStart(9)}  ${vs(Number(r.gas))}${r.semaphoreV4 ? `   Semaphore V4 ~${k(SEMAPHORE.gas)}` : ''}`),
  ].join('\n');
  return {
    name: 'zk',
    description: 'zero-knowledge membership: circuit size, witness, proving and verifying time, verification throughput of the worker pool against one thread, and on-chain gas against an ERC-20 transfer',
    rows,
    table,
  };
}

/** Gas of registering, verifying, voting and removing on the in-process EVM, and of an ERC-20 transfer in the same run. */
async function measureGas(): Promise<{ transfer: number; rows: Record<string, unknown>[] }> {
  const n = await startEmbeddedNexus({ accounts: 3 });
  const membership = Membership.open(1);
  try {
    const identities = [createIdentity(1n), createIdentity(2n)];
    const registries = [1, 2].map((who) => new MemberRegistryClient(n.conn, n.deployment, n.conn.accounts[who]));
    const transfer = Number(
      (await write(n.conn, n.conn.accounts[1], { address: n.deployment.token, abi: nexusTokenAbi, action: 'transfer', functionName: 'transfer', args: [n.addresses[2], nxs(1)] })).gasUsed,
    );
    for (const p of n.participants) await p.stake(nxs(100));
    const first = await registries[0].register(identities[0].commitment);
    const second = await registries[1].register(identities[1].commitment);
    const tree = await registries[0].tree();
    const proof = await membership.prove({ identity: identities[0], path: tree.path(0), scope: 99n, signalHash: 5n });
    const verifierOnly = await n.conn.publicClient.estimateContractGas({
      address: n.deployment.membershipVerifier,
      abi: membershipVerifierAbi,
      functionName: 'verifyProof',
      args: groth16Args(proof),
      account: n.conn.accounts[0],
    });
    const verified = await registries[1].verifyMembership(proof);
    const voting = new AnonymousVotingClient(n.conn, n.deployment, n.conn.accounts[1]);
    const { proposalId } = await voting.propose('rewardPerRound', nxs(2_000));
    const vote = await voting.castVote(await voting.proveVote(membership, identities[1], proposalId, 'for'));
    await n.participants[0].requestUnstake(nxs(1));
    const removed = await registries[1].removeUnstaked(n.addresses[1]);
    const row = (name: string, gas: bigint | number, semaphoreV4 = false) => ({ kind: 'gas', name, gas: Number(gas), vsTransfer: Number((Number(gas) / transfer).toFixed(2)), ...(semaphoreV4 ? { semaphoreV4: SEMAPHORE.gas } : {}) });
    return {
      transfer,
      rows: [
        row('MembershipVerifier.verifyProof alone (a transaction)', verifierOnly),
        row('MemberRegistry.verifyMembership (root check, proof, nullifier)', verified.gasUsed, true),
        row('AnonymousVoting.castVote (proof, nullifier, tally)', vote.gasUsed),
        row('MemberRegistry.register, first member (20 Poseidon hashes)', first.gasUsed),
        row('MemberRegistry.register, second member', second.gasUsed),
        row('MemberRegistry.removeUnstaked', removed.gasUsed),
        { kind: 'gas baseline', name: 'NXS transfer (ERC-20, between two holders)', gas: transfer },
      ],
    };
  } finally {
    await membership.close();
  }
}
