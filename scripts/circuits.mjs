// `npm run circuits`: compiles the circom circuits, runs a development Groth16 setup on them, and writes the
// artefacts the code and the chain use, with their sha256 list. Everything expensive is cached under .cache/ by the
// hash of what produced it, so a second run only copies.
//
// The ceremony here is a DEVELOPMENT one: both phases use snarkjs's beacon with a fixed public value instead of a
// secret contribution, so anyone can recompute the toxic waste and forge proofs. It is deterministic on purpose: a
// rerun reproduces the committed artefacts byte for byte. For production, pass a public ceremony's file with
// PTAU=path/to/powersOfTau28_hez_final_NN.ptau and replace the phase 2 beacon with real contributions.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as snarkjs from 'snarkjs';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const cacheRoot = join(root, '.cache');
const buildDir = join(root, 'circuits', 'build');

const CIRCUITS = [{ name: 'membership', verifier: 'MembershipVerifier' }];
// Public, fixed beacon values: they make the development ceremony reproducible, and insecure by construction.
const DEV_BEACON = createHash('sha256').update('cipher-nexus development ceremony, not for production').digest('hex');
const BEACON_ITERATIONS_EXP = 10;
const COMPILE_FLAGS = ['--r1cs', '--wasm', '--O2'];

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const seconds = (started) => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const logger = {
  debug: () => {},
  info: () => {},
  warn: (message) => console.warn(`  snarkjs: ${message}`),
  error: (message) => console.error(`  snarkjs: ${message}`),
};

/** Runs circom2 (the compiler in WebAssembly) in its WASI sandbox. */
async function compile(source, outDir) {
  const { CircomRunner, bindings } = require('circom2');
  const runner = new CircomRunner({
    args: [relative(root, source), ...COMPILE_FLAGS, '-l', 'lib', '-o', relative(root, outDir)],
    env: {},
    // The sandbox does not follow symlinks out of a preopened folder, and node_modules may be one (a worktree shares
    // its parent's), so the real folder is mounted as `lib`.
    preopens: { '.': '.', lib: realpathSync(join(root, 'node_modules')) },
    bindings: { ...bindings, fs: require('node:fs') },
  });
  const cwd = process.cwd();
  process.chdir(root);
  try {
    await runner.execute(readFileSync(require.resolve('circom2/circom.wasm')));
  } catch (error) {
    throw new Error(`circom2 failed on ${relative(root, source)} (${error.code === undefined ? error.message : `exit ${error.code}`}); its messages are above`);
  } finally {
    process.chdir(cwd);
  }
}

/** The smallest power of two the circuit's Groth16 domain fits in (as snarkjs's zkey new computes it). */
function domainPower({ nConstraints, nPubInputs, nOutputs }) {
  return Math.max(8, Math.ceil(Math.log2(nConstraints + nPubInputs + nOutputs + 1)));
}

/** A phase 1 file of 2^power, prepared for phase 2: PTAU if given, else a cached development ceremony. */
async function powersOfTau(power, curve) {
  if (process.env.PTAU) {
    console.log(`  powers of tau: ${process.env.PTAU} (from PTAU)`);
    return process.env.PTAU;
  }
  const dir = join(cacheRoot, 'ptau');
  const final = join(dir, `dev_${power}_final.ptau`);
  if (existsSync(final)) return final;
  mkdirSync(dir, { recursive: true });
  const fresh = join(dir, `dev_${power}_0000.ptau`);
  const beacon = join(dir, `dev_${power}_beacon.ptau`);
  let started = performance.now();
  await snarkjs.powersOfTau.newAccumulator(curve, power, fresh, logger);
  console.log(`  powers of tau 2^${power}: new accumulator ${seconds(started)}`);
  started = performance.now();
  await snarkjs.powersOfTau.beacon(fresh, beacon, 'cipher-nexus dev beacon', DEV_BEACON, BEACON_ITERATIONS_EXP, logger);
  console.log(`  powers of tau 2^${power}: beacon contribution ${seconds(started)}`);
  started = performance.now();
  await snarkjs.powersOfTau.preparePhase2(beacon, `${final}.tmp`, logger);
  renameSync(`${final}.tmp`, final);
  console.log(`  powers of tau 2^${power}: prepare phase 2 ${seconds(started)}`);
  return final;
}

/** Compiles one circuit and sets up its keys, or reuses the cached result for the same inputs. */
async function build({ name, verifier }, curve) {
  const source = join(root, 'circuits', `${name}.circom`);
  const versions = ['circom2', 'circomlib', 'snarkjs'].map((pkg) => `${pkg}@${JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version}`);
  const key = sha256([readFileSync(source, 'utf8'), ...versions, ...COMPILE_FLAGS, DEV_BEACON, process.env.PTAU ?? 'dev'].join('\n')).slice(0, 16);
  const dir = join(cacheRoot, 'circuits', `${name}-${key}`);
  const zkey = join(dir, `${name}.zkey`);
  console.log(`${name}: cache ${relative(root, dir)}`);
  if (!existsSync(zkey)) {
    mkdirSync(dir, { recursive: true });
    let started = performance.now();
    await compile(source, dir);
    const info = await snarkjs.r1cs.info(join(dir, `${name}.r1cs`), logger);
    const power = domainPower(info);
    console.log(`  compiled in ${seconds(started)}: ${info.nConstraints} constraints, domain 2^${power}`);
    const ptau = await powersOfTau(power, curve);
    started = performance.now();
    await snarkjs.zKey.newZKey(join(dir, `${name}.r1cs`), ptau, join(dir, `${name}_0000.zkey`), logger);
    await snarkjs.zKey.beacon(join(dir, `${name}_0000.zkey`), `${zkey}.tmp`, 'cipher-nexus dev beacon', DEV_BEACON, BEACON_ITERATIONS_EXP, logger);
    renameSync(`${zkey}.tmp`, zkey);
    console.log(`  phase 2 (zkey new + beacon) ${seconds(started)}`);
  }
  const vkey = await snarkjs.zKey.exportVerificationKey(zkey, logger);
  const template = readFileSync(join(root, 'node_modules', 'snarkjs', 'templates', 'verifier_groth16.sol.ejs'), 'utf8');
  const solidity = await snarkjs.zKey.exportSolidityVerifier(zkey, { groth16: template.replace('contract Groth16Verifier', `contract ${verifier}`) }, logger);

  mkdirSync(buildDir, { recursive: true });
  const outputs = {
    wasm: join(buildDir, `${name}.wasm`),
    zkey: join(buildDir, `${name}.zkey`),
    vkey: join(buildDir, `${name}.vkey.json`),
    solidity: join(root, 'contracts', `${verifier}.sol`),
  };
  copyFileSync(join(dir, `${name}_js`, `${name}.wasm`), outputs.wasm);
  copyFileSync(zkey, outputs.zkey);
  writeFileSync(outputs.vkey, `${JSON.stringify(vkey, null, 2)}\n`);
  writeFileSync(outputs.solidity, solidity);
  return [source, ...Object.values(outputs)];
}

const started = performance.now();
const curve = await snarkjs.curves.getCurveFromName('bn128');
try {
  const files = [];
  for (const circuit of CIRCUITS) files.push(...(await build(circuit, curve)));
  const list = files.map((file) => `${sha256(readFileSync(file))}  ${relative(root, file)}`).join('\n');
  const listFile = join(root, 'circuits', 'ARTEFACTS.sha256');
  mkdirSync(dirname(listFile), { recursive: true });
  writeFileSync(listFile, `${list}\n`);
  console.log(`circuits: done in ${seconds(started)}; hashes in ${relative(root, listFile)}`);
} finally {
  // ffjavascript's worker threads keep the process alive until the curve is terminated.
  await curve.terminate();
}
