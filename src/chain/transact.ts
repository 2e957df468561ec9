import type { Abi, ContractFunctionArgs, ContractFunctionName, Hex, LocalAccount, Address, TransactionReceipt } from 'viem';
import type { ChainConnection } from './connection.js';
import { ChainCallError, toChainError } from './errors.js';

/** One contract write: what it is called in errors, the contract, the function and its arguments. */
export interface WriteRequest<abi extends Abi, name extends ContractFunctionName<abi, 'nonpayable' | 'payable'>> {
  action: string;
  address: Address;
  abi: abi;
  functionName: name;
  args: ContractFunctionArgs<abi, 'nonpayable' | 'payable', name>;
  /**
   * A gas limit known to suffice, for calls whose estimate is slow (a long claimMany: the
   * estimate runs the call many times). The call is then simulated once instead, so a revert is
   * still named before anything is sent; gas beyond what is used is not charged.
   */
  gas?: bigint;
}

/** The mined transaction: its hash, gas used and receipt. */
export interface TxResult {
  hash: Hex;
  gasUsed: bigint;
  receipt: TransactionReceipt;
}

/** Sends a contract write signed by `account`, waits for it to be mined, and names the custom error if it reverts. */
export async function write<abi extends Abi, name extends ContractFunctionName<abi, 'nonpayable' | 'payable'>>(
  conn: ChainConnection,
  account: LocalAccount,
  request: WriteRequest<abi, name>,
): Promise<TxResult> {
  let hash: Hex;
  const call = { address: request.address, abi: request.abi, functionName: request.functionName, args: request.args };
  try {
    // eth_estimateGas (or, with a given limit, eth_call) runs the call first, so a revert is
    // reported with its custom error before anything is sent.
    if (request.gas !== undefined) await conn.publicClient.simulateContract({ ...call, account } as never);
    hash = await conn.walletFor(account).writeContract({ ...call, ...(request.gas !== undefined ? { gas: request.gas } : {}) } as never);
  } catch (error) {
    throw toChainError(request.action, error);
  }
  return confirm(conn, request.action, hash);
}

/** Waits for `hash` and fails with {@link ChainCallError} if it reverted after all (a state change between estimate and mining). */
export async function confirm(conn: ChainConnection, action: string, hash: Hex): Promise<TxResult> {
  const receipt = await conn.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new ChainCallError(action, `transaction ${hash} reverted when mined`);
  return { hash, gasUsed: receipt.gasUsed, receipt };
}

/** A contract read that names the custom error if it reverts. */
export async function read<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toChainError(action, error);
  }
}
