import { keccak256, parseUnits, toBytes, zeroAddress, type Abi, type Address, type Hex, type LocalAccount } from 'viem';
import { InvalidInputError } from '../core/errors.js';
import {
  anonymousVotingAbi,
  anonymousVotingBytecode,
  dataAssetAbi,
  dataAssetBytecode,
  marketEscrowAbi,
  marketEscrowBytecode,
  memberRegistryAbi,
  memberRegistryBytecode,
  membershipVerifierAbi,
  membershipVerifierBytecode,
  nexusGovernorAbi,
  nexusGovernorBytecode,
  nexusTimelockAbi,
  nexusTimelockBytecode,
  nexusTokenAbi,
  nexusTokenBytecode,
  parameterRegistryAbi,
  parameterRegistryBytecode,
  poseidonT3Abi,
  poseidonT3Bytecode,
  reputationAbi,
  reputationBytecode,
  rewardDistributorAbi,
  rewardDistributorBytecode,
  stakingAbi,
  stakingBytecode,
} from './artifacts.js';
import type { ChainConnection } from './connection.js';
import { confirm, write } from './transact.js';
import { toChainError } from './errors.js';

/** Token amounts in whole NXS: the token has 18 decimals. */
export const nxs = (amount: number | string): bigint => parseUnits(String(amount), 18);

/** The governed protocol parameters (ParameterRegistry), token amounts in base units. */
export interface ProtocolParameters {
  rewardPerRound: bigint;
  minimumStake: bigint;
  slashFractionBps: bigint;
  /** Default differential-privacy budget of a job, epsilon times 1,000. */
  defaultPrivacyBudgetMilli: bigint;
  /** Seconds. */
  unstakeCooldown: bigint;
  /** Seconds. */
  claimWindow: bigint;
  reputationDecayBps: bigint;
  /** Most all rounds posted in one reward epoch may pay together, base units. */
  maxRewardPerEpoch: bigint;
  /** Seconds of one reward epoch. */
  rewardEpoch: bigint;
  /** Seconds a proposed slash waits, contestable, before it may take effect. */
  slashChallengePeriod: bigint;
}

export const DEFAULT_PARAMETERS: ProtocolParameters = {
  rewardPerRound: nxs(1_000),
  minimumStake: nxs(100),
  slashFractionBps: 1_000n,
  defaultPrivacyBudgetMilli: 8_000n,
  unstakeCooldown: 7n * 86_400n,
  claimWindow: 30n * 86_400n,
  reputationDecayBps: 9_500n,
  // 100 rounds of the default reward a day: a demo posts 30; a stolen poster key promises at most
  // 10% of the launch pool before governance (a vote of about 8 days plus the timelock) revokes it.
  maxRewardPerEpoch: nxs(100_000),
  rewardEpoch: 86_400n,
  // Longer than a governance proposal takes (1 day delay, 7 days voting, 2 days timelock), so
  // governance can cancel a slash whose accused is away, not only decide a contested one.
  slashChallengePeriod: 14n * 86_400n,
};

/** Governor and timelock settings; voting is counted in blocks, the timelock in seconds. */
export interface GovernanceSettings {
  votingDelayBlocks: number;
  votingPeriodBlocks: number;
  proposalThreshold: bigint;
  quorumPercent: number;
  timelockDelaySeconds: number;
  /** Seconds an anonymous (one member, one vote) proposal is open. */
  anonymousVotingPeriodSeconds: number;
  /** Share of the members, in basis points, that must vote For or Abstain on an anonymous proposal. */
  anonymousQuorumBps: number;
  /** Seconds the member registry still accepts proofs against a replaced root. */
  memberRootValiditySeconds: number;
}

/**
 * One day of voting delay, one week of voting (12 s blocks), 4% quorum, two days of timelock; anonymous votes run a
 * week with a quorum of a fifth of the members; a member root stays valid an hour after it is replaced (Semaphore
 * V4's default).
 */
export const DEFAULT_GOVERNANCE: GovernanceSettings = {
  votingDelayBlocks: 7_200,
  votingPeriodBlocks: 50_400,
  proposalThreshold: 0n,
  quorumPercent: 4,
  timelockDelaySeconds: 2 * 86_400,
  anonymousVotingPeriodSeconds: 7 * 86_400,
  anonymousQuorumBps: 2_000,
  memberRootValiditySeconds: 3_600,
};

export interface DeployOptions {
  /** Signs the deployment and receives the launch roles (minting is renounced at the end); the connection's first account unless given. */
  deployer?: LocalAccount;
  /** Holds the SLASHER (proposes slashes), UPDATER, POSTER and the market's COORDINATOR roles; the deployer unless given. The token's PAUSER and COMPLIANCE roles go to the timelock. */
  coordinator?: Address;
  /** Receives slashed stake; the timelock unless given. */
  treasury?: Address;
  /** Supply cap in base units; 1 billion NXS unless given. */
  cap?: bigint;
  /** Initial balances minted at launch. */
  allocations?: readonly { account: Address; amount: bigint }[];
  /** Tokens minted into the RewardDistributor's pool at launch; 1 million NXS unless given. */
  rewardPool?: bigint;
  parameters?: Partial<ProtocolParameters>;
  governance?: Partial<GovernanceSettings>;
  /** Seconds a buyer may dispute a market fill after its job completed; 3 days unless given. */
  disputeWindowSeconds?: number;
}

/** Three days: long enough for a buyer to evaluate the model a job delivered. */
export const DEFAULT_DISPUTE_WINDOW_SECONDS = 3 * 86_400;

/** Where the suite lives on a chain; save it to reconnect later. */
export interface NexusDeployment {
  chainId: number;
  /** Block of the first deployment transaction, where event scans start. */
  fromBlock: bigint;
  token: Address;
  timelock: Address;
  governor: Address;
  registry: Address;
  staking: Address;
  reputation: Address;
  distributor: Address;
  /** DataAsset: one ERC-721 token per listed data set. */
  dataAsset: Address;
  /** MarketEscrow: settles order-book fills and holds the buyer's NXS until the job is done. */
  escrow: Address;
  /** MembershipVerifier: the Groth16 verifier of circuits/membership.circom. */
  membershipVerifier: Address;
  /** MemberRegistry: stakers' identity commitments in an on-chain Poseidon Merkle tree, and nullifiers per scope. */
  members: Address;
  /** AnonymousVoting: one member, one vote on protocol parameters, executed through the timelock. */
  anonymousVoting: Address;
}

const role = (name: string): Hex => keccak256(toBytes(name));
const DEFAULT_ADMIN_ROLE = `0x${'0'.repeat(64)}` as Hex;

/**
 * Replaces solc's placeholder for library `fullName` ("path:Name") with its address; a bytecode without the
 * placeholder is a build that does not match this code.
 */
export function linkLibrary(bytecode: Hex, fullName: string, address: Address): Hex {
  const placeholder = `__$${keccak256(toBytes(fullName)).slice(2, 36)}$__`;
  if (!bytecode.includes(placeholder)) throw new InvalidInputError('CHAIN_LINK_MISSING', `the bytecode has no link placeholder for ${fullName}; run npm run build:contracts`);
  return bytecode.split(placeholder).join(address.slice(2).toLowerCase()) as Hex;
}

async function deployOne(conn: ChainConnection, deployer: LocalAccount, name: string, abi: Abi, bytecode: Hex, args: readonly unknown[]): Promise<Address> {
  let hash: Hex;
  try {
    hash = await conn.walletFor(deployer).deployContract({ abi, bytecode, args } as never);
  } catch (error) {
    throw toChainError(`deploying ${name}`, error);
  }
  const { receipt } = await confirm(conn, `deploying ${name}`, hash);
  if (!receipt.contractAddress) throw toChainError(`deploying ${name}`, new Error('no contract address in the receipt'));
  return receipt.contractAddress;
}

/**
 * Deploys the whole suite and wires its roles: the timelock administers everything and owns the
 * registry and holds the token's pause and compliance roles, the governor is the timelock's only
 * proposer and canceller, anyone may execute, the coordinator may propose slashes, post rewards
 * (within the registry's caps), record reputation and post market completion evidence, the
 * timelock arbitrates market disputes, staking registers stakers' reward
 * claims with the distributor, and the deployer keeps no minting
 * right once the launch allocations and the reward pool are minted. The member registry (with the
 * Poseidon library it links and the membership circuit's Groth16 verifier) admits stakers' identity
 * commitments and checks their anonymous membership proofs; anonymous voting (one member, one vote
 * on registry parameters) may schedule on the timelock but not cancel.
 */
export async function deployNexus(conn: ChainConnection, options: DeployOptions = {}): Promise<NexusDeployment> {
  const deployer = options.deployer ?? conn.accounts[0];
  const coordinator = options.coordinator ?? deployer.address;
  const parameters = { ...DEFAULT_PARAMETERS, ...options.parameters };
  const gov = { ...DEFAULT_GOVERNANCE, ...options.governance };
  const cap = options.cap ?? nxs(1_000_000_000);
  const rewardPool = options.rewardPool ?? nxs(1_000_000);
  const minted = (options.allocations ?? []).reduce((sum, a) => sum + a.amount, rewardPool);
  if (minted > cap) throw new InvalidInputError('CHAIN_DEPLOY_OVER_CAP', `the allocations and reward pool (${minted}) exceed the cap (${cap})`);

  const fromBlock = await conn.publicClient.getBlockNumber({ cacheTime: 0 });
  const timelock = await deployOne(conn, deployer, 'NexusTimelock', nexusTimelockAbi, nexusTimelockBytecode, [
    BigInt(gov.timelockDelaySeconds),
    [],
    [zeroAddress],
    deployer.address,
  ]);
  const treasury = options.treasury ?? timelock;
  const token = await deployOne(conn, deployer, 'NexusToken', nexusTokenAbi, nexusTokenBytecode, [timelock, deployer.address, cap]);
  const registry = await deployOne(conn, deployer, 'ParameterRegistry', parameterRegistryAbi, parameterRegistryBytecode, [timelock, parameters]);
  const governor = await deployOne(conn, deployer, 'NexusGovernor', nexusGovernorAbi, nexusGovernorBytecode, [
    token,
    timelock,
    gov.votingDelayBlocks,
    gov.votingPeriodBlocks,
    gov.proposalThreshold,
    BigInt(gov.quorumPercent),
  ]);
  // The distributor first: every stake registers the staker's reward claims with it.
  const distributor = await deployOne(conn, deployer, 'RewardDistributor', rewardDistributorAbi, rewardDistributorBytecode, [token, registry, timelock, coordinator]);
  const staking = await deployOne(conn, deployer, 'Staking', stakingAbi, stakingBytecode, [token, registry, timelock, treasury, coordinator, distributor]);
  const reputation = await deployOne(conn, deployer, 'Reputation', reputationAbi, reputationBytecode, [registry, timelock, coordinator]);
  const dataAsset = await deployOne(conn, deployer, 'DataAsset', dataAssetAbi, dataAssetBytecode, []);
  const escrow = await deployOne(conn, deployer, 'MarketEscrow', marketEscrowAbi, marketEscrowBytecode, [
    token,
    dataAsset,
    timelock,
    coordinator,
    BigInt(options.disputeWindowSeconds ?? DEFAULT_DISPUTE_WINDOW_SECONDS),
  ]);

  const poseidon = await deployOne(conn, deployer, 'PoseidonT3', poseidonT3Abi, poseidonT3Bytecode, []);
  const membershipVerifier = await deployOne(conn, deployer, 'MembershipVerifier', membershipVerifierAbi, membershipVerifierBytecode, []);
  const members = await deployOne(conn, deployer, 'MemberRegistry', memberRegistryAbi, linkLibrary(memberRegistryBytecode, 'poseidon-solidity/PoseidonT3.sol:PoseidonT3', poseidon), [
    staking,
    membershipVerifier,
    BigInt(gov.memberRootValiditySeconds),
  ]);
  const anonymousVoting = await deployOne(conn, deployer, 'AnonymousVoting', anonymousVotingAbi, anonymousVotingBytecode, [
    members,
    timelock,
    registry,
    BigInt(gov.anonymousVotingPeriodSeconds),
    BigInt(gov.anonymousQuorumBps),
  ]);

  const tl = { address: timelock, abi: nexusTimelockAbi } as const;
  await write(conn, deployer, { ...tl, action: 'wiring the timelock', functionName: 'grantRole', args: [role('PROPOSER_ROLE'), governor] });
  // The member track may only schedule, not cancel: it cannot stop the governor's operations.
  await write(conn, deployer, { ...tl, action: 'wiring the timelock', functionName: 'grantRole', args: [role('PROPOSER_ROLE'), anonymousVoting] });
  await write(conn, deployer, { ...tl, action: 'wiring the timelock', functionName: 'grantRole', args: [role('CANCELLER_ROLE'), governor] });
  await write(conn, deployer, { ...tl, action: 'wiring the timelock', functionName: 'renounceRole', args: [DEFAULT_ADMIN_ROLE, deployer.address] });

  const tk = { address: token, abi: nexusTokenAbi } as const;
  for (const { account, amount } of options.allocations ?? []) {
    await write(conn, deployer, { ...tk, action: 'minting launch allocations', functionName: 'mint', args: [account, amount] });
  }
  if (rewardPool > 0n) {
    await write(conn, deployer, { ...tk, action: 'minting the reward pool', functionName: 'mint', args: [deployer.address, rewardPool] });
    await write(conn, deployer, { ...tk, action: 'funding the reward pool', functionName: 'approve', args: [distributor, rewardPool] });
    await write(conn, deployer, { address: distributor, abi: rewardDistributorAbi, action: 'funding the reward pool', functionName: 'fund', args: [rewardPool] });
  }
  await write(conn, deployer, { ...tk, action: 'handing minting to governance', functionName: 'renounceRole', args: [role('MINTER_ROLE'), deployer.address] });
  return { chainId: conn.chain.id, fromBlock, token, timelock, governor, registry, staking, reputation, distributor, dataAsset, escrow, membershipVerifier, members, anonymousVoting };
}
