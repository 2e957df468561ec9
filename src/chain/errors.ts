import { BaseError, decodeErrorResult, type Abi, type Hex } from 'viem';
import { CipherNexusError } from '../core/errors.js';
import {
  anonymousVotingAbi,
  dataAssetAbi,
  marketEscrowAbi,
  memberRegistryAbi,
  nexusGovernorAbi,
  nexusTimelockAbi,
  nexusTokenAbi,
  parameterRegistryAbi,
  reputationAbi,
  rewardDistributorAbi,
  stakingAbi,
} from './artifacts.js';

/** Every custom error of the suite, so a revert bubbling up from another contract (a token error inside a stake) is still named. */
const ALL_ERRORS: Abi = (() => {
  const seen = new Set<string>();
  const errors: Abi[number][] = [];
  for (const abi of [nexusTokenAbi, stakingAbi, reputationAbi, rewardDistributorAbi, parameterRegistryAbi, nexusGovernorAbi, nexusTimelockAbi, dataAssetAbi, marketEscrowAbi, memberRegistryAbi, anonymousVotingAbi] as readonly Abi[]) {
    for (const item of abi) {
      if (item.type !== 'error') continue;
      const key = `${item.name}(${item.inputs.map((i) => i.type).join(',')})`;
      if (!seen.has(key)) {
        seen.add(key);
        errors.push(item);
      }
    }
  }
  return errors;
})();

/** A contract call reverted; `errorName` is the contract's custom error (e.g. `AlreadyClaimed`) and `args` its arguments. */
export class ChainRevertError extends CipherNexusError {
  readonly errorName: string;
  readonly args: readonly unknown[];
  constructor(action: string, errorName: string, args: readonly unknown[], data?: Hex) {
    const shown = args.map((a) => (typeof a === 'bigint' ? a.toString() : String(a))).join(', ');
    super('CHAIN_REVERTED', `${action} was refused by the contract: ${errorName}(${shown})`, { errorName, args, data });
    this.errorName = errorName;
    this.args = args;
  }
}

/** The transaction or call failed for another reason (the node is unreachable, out of gas, a nonce clash). */
export class ChainCallError extends CipherNexusError {
  constructor(action: string, message: string) {
    super('CHAIN_CALL_FAILED', `${action} failed: ${message}`);
  }
}

function revertData(error: unknown): Hex | undefined {
  let found: Hex | undefined;
  const visit = (e: unknown): void => {
    if (found || typeof e !== 'object' || e === null) return;
    const data = (e as { data?: unknown }).data;
    if (typeof data === 'string' && /^0x[0-9a-fA-F]{8}/.test(data)) found = data as Hex;
    else if (typeof data === 'object' && data !== null && typeof (data as { errorName?: unknown }).errorName !== 'string') visit(data);
    visit((e as { cause?: unknown }).cause);
  };
  visit(error);
  return found;
}

/** Turns whatever viem threw into a {@link ChainRevertError} (named custom error) or a {@link ChainCallError}. */
export function toChainError(action: string, error: unknown): CipherNexusError {
  if (error instanceof CipherNexusError) return error;
  if (error instanceof BaseError) {
    const decoded = error.walk((e) => typeof (e as { data?: { errorName?: unknown } }).data?.errorName === 'string') as
      | { data: { errorName: string; args?: readonly unknown[] } }
      | null;
    if (decoded && decoded.data.errorName !== 'Error') return new ChainRevertError(action, decoded.data.errorName, decoded.data.args ?? []);
  }
  const data = revertData(error);
  if (data) {
    try {
      const { errorName, args } = decodeErrorResult({ abi: ALL_ERRORS, data });
      return new ChainRevertError(action, errorName, args ?? [], data);
    } catch {
      return new ChainRevertError(action, 'UnknownError', [data], data);
    }
  }
  const message = error instanceof BaseError ? error.shortMessage : error instanceof Error ? error.message : String(error);
  return new ChainCallError(action, message);
}
