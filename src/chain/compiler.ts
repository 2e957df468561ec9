import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CipherNexusError } from '../core/errors.js';

const require = createRequire(import.meta.url);

/** The repository's `contracts/` folder. */
export const CONTRACTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../contracts');

/** The contracts the build emits, in deployment order; every other contract is a base or a library. */
export const CONTRACT_NAMES = [
  'NexusToken',
  'ParameterRegistry',
  'NexusTimelock',
  'NexusGovernor',
  'Staking',
  'Reputation',
  'RewardDistributor',
  'DataAsset',
  'MarketEscrow',
  'PoseidonT3',
  'MembershipVerifier',
  'MemberRegistry',
  'AnonymousVoting',
] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

/** Contracts built from a package rather than contracts/, by the path solc sees; PoseidonT3 is a library deployed once and linked. */
export const PACKAGE_SOURCES: Partial<Record<ContractName, string>> = { PoseidonT3: 'poseidon-solidity/PoseidonT3.sol' };

/** The solc source path of a contract. */
export const sourcePathOf = (name: ContractName): string => PACKAGE_SOURCES[name] ?? `contracts/${name}.sol`;

/** Compiler settings; part of the source hash, so changing them marks the artefacts stale. */
export const COMPILER_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
} as const;

/** One compiled contract: its ABI and creation bytecode. */
export interface CompiledContract {
  abi: readonly unknown[];
  bytecode: `0x${string}`;
  /** Size of the runtime code in bytes (EIP-170 limits it to 24,576 on public networks). */
  deployedSize: number;
}

export interface CompileResult {
  solcVersion: string;
  /** sha256 over the compiler version, settings and every source file, see {@link sourceHash}. */
  sourceHash: string;
  /** The contracts compiled (all of {@link CONTRACT_NAMES} unless `only` was given). */
  contracts: Partial<Record<ContractName, CompiledContract>>;
}

/** solc reported errors (not warnings); `details` lists them formatted. */
export class ContractCompileError extends CipherNexusError {
  constructor(messages: string[]) {
    super('CONTRACT_COMPILE_FAILED', `solc could not compile contracts/: ${messages[0] ?? 'unknown error'}`, messages);
  }
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string }[];
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>;
}

interface Solc {
  version(): string;
  compile(input: string, callbacks: { import: (path: string) => { contents: string } | { error: string } }): string;
}

function loadSolc(): Solc {
  return require('solc') as Solc;
}

/** Our .sol files, keyed by the name solc sees (`contracts/X.sol`). */
function ourSources(): Record<string, string> {
  const sources: Record<string, string> = {};
  for (const file of readdirSync(CONTRACTS_DIR).filter((f) => f.endsWith('.sol')).sort()) {
    sources[`contracts/${file}`] = readFileSync(join(CONTRACTS_DIR, file), 'utf8');
  }
  return sources;
}

/** Resolves `@openzeppelin/...` (and relative imports inside it) from node_modules; nothing is fetched. */
function readImport(path: string): { contents: string } | { error: string } {
  try {
    if (path.startsWith('contracts/')) return { contents: readFileSync(join(CONTRACTS_DIR, path.slice('contracts/'.length)), 'utf8') };
    return { contents: readFileSync(require.resolve(path), 'utf8') };
  } catch {
    return { error: `import '${path}' not found under contracts/ or node_modules` };
  }
}

/**
 * A digest of everything that determines the artefacts: the solc version, the settings, the
 * installed OpenZeppelin and poseidon-solidity versions and our sources. The build skips solc when it matches.
 */
export function sourceHash(): string {
  // Package versions rather than solc.version(): loading the compiler takes seconds.
  const version = (pkg: string): string => (require(`${pkg}/package.json`) as { version: string }).version;
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ solc: version('solc'), oz: version('@openzeppelin/contracts'), poseidon: version('poseidon-solidity'), settings: COMPILER_SETTINGS }));
  for (const [name, text] of Object.entries(ourSources())) hash.update(`\0${name}\0${text}`);
  return hash.digest('hex');
}

/**
 * Compiles contracts/ with solc-js (standard JSON input), resolving imports from node_modules.
 * `only` compiles just those contracts (and what they import): the bytecode is the same as in a
 * full build, since it depends only on a contract's own sources and the settings.
 */
export function compileContracts(only: readonly ContractName[] = CONTRACT_NAMES): CompileResult {
  const solc = loadSolc();
  const wanted = new Set(only.map(sourcePathOf));
  const sources = Object.fromEntries(
    Object.entries(ourSources())
      .filter(([name]) => wanted.has(name))
      .map(([name, content]) => [name, { content }]),
  );
  for (const name of only) {
    const path = PACKAGE_SOURCES[name];
    if (path !== undefined) sources[path] = { content: readFileSync(require.resolve(path), 'utf8') };
  }
  const input = { language: 'Solidity', sources, settings: COMPILER_SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: readImport })) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error').map((e) => e.formattedMessage);
  if (errors.length > 0) throw new ContractCompileError(errors);
  const contracts: Partial<Record<ContractName, CompiledContract>> = {};
  for (const name of only) {
    const out = output.contracts?.[sourcePathOf(name)]?.[name];
    if (!out) throw new ContractCompileError([`${sourcePathOf(name)} produced no contract ${name}`]);
    contracts[name] = {
      abi: out.abi,
      bytecode: `0x${out.evm.bytecode.object}`,
      deployedSize: out.evm.deployedBytecode.object.length / 2,
    };
  }
  return { solcVersion: solc.version(), sourceHash: sourceHash(), contracts };
}
