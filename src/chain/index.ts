/**
 * The chain layer: the NXS token economy and governance contracts (contracts/), deployed and used
 * from TypeScript through viem, on the in-process EVM by default or any JSON-RPC endpoint.
 */
export { NexusClient, REPUTATION_ONE, evidenceHash, type PostedRewardRound, type ReputationRecord, type RewardRoundInfo, type StakeInfo } from './client.js';
export {
  ANONYMOUS_PROPOSAL_STATES,
  AnonymousVotingClient,
  type AnonymousProposal,
  type AnonymousProposalState,
} from './anonymous-voting.js';
export { DEV_MNEMONIC, devPrivateKeys, openChain, type ChainConfig, type ChainConnection } from './connection.js';
export {
  DEFAULT_DISPUTE_WINDOW_SECONDS,
  DEFAULT_GOVERNANCE,
  DEFAULT_PARAMETERS,
  deployNexus,
  linkLibrary,
  nxs,
  type DeployOptions,
  type GovernanceSettings,
  type NexusDeployment,
  type ProtocolParameters,
} from './deploy.js';
export { startEmbeddedNexus, type EmbeddedNexus, type EmbeddedNexusOptions } from './dev.js';
export { startDevNode, type DevNode, type DevNodeOptions } from './dev-node.js';
export { loadDeployment, saveDeployment } from './deployment-file.js';
export {
  FILL_STATUSES,
  MarketClient,
  label32,
  labelText,
  twapBetween,
  type AssetListing,
  type DataAssetInfo,
  type FillData,
  type FillInfo,
  type FillStatus,
  type ListedAsset,
  type PriceObservation,
  type PricePoint,
  type SettledFill,
} from './market.js';
export {
  MARKET_DOMAIN_NAME,
  MARKET_DOMAIN_VERSION,
  ORDER_SIDE,
  ORDER_TYPES,
  hashOrder,
  marketDomain,
  orderSignatureFault,
  signOrder,
  verifyOrder,
  type Order,
  type OrderSide,
  type SignedOrder,
} from './market-order-types.js';
export { JobEconomy, type JobEconomyOptions } from './job-economy.js';
export { openSimulatedFederation, type SimulatedFederation, type SimulatedFederationOptions } from './simulated-federation.js';
export { EmbeddedChainError, createEmbeddedProvider, type EmbeddedChainOptions, type Eip1193Provider } from './edr-provider.js';
export { serveJsonRpc, type RpcServer } from './rpc-server.js';
export { ChainCallError, ChainRevertError } from './errors.js';
export {
  NexusGovernance,
  PARAMETER_NAMES,
  PARAMETER_SETTERS,
  PROPOSAL_STATES,
  VOTE_SUPPORT,
  type CreatedProposal,
  type ParameterName,
  type ProposalAction,
  type ProposalState,
  type ProposalStatus,
  type VoteSupport,
} from './governance.js';
export { groth16Args, MemberRegistryClient, proofWords, type MemberEvent, type MemberRecord, type ProofWords } from './members.js';
export { REWARD_LEAF_ENCODING, buildRewardTree, loadRewardTree, type RewardEntry, type RewardTree, type RewardTreeDump } from './merkle.js';
export { participantStanding, settleRound, splitReward, type RoundOutcome, type RoundSettlement } from './settlement.js';
export type { TxResult } from './transact.js';

/** The client the CLI and the coordinator hold: NexusClient under the name the surfaces use. */
export type { NexusClient as ChainClient } from './client.js';
