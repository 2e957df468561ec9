import { createRequire } from 'node:module';
import type { EdrContext as EdrContextType, Provider as EdrProvider } from '@nomicfoundation/edr';
import { CipherNexusError } from '../core/errors.js';

// EDR is a native (N-API) module shipped inside its npm package for each platform; nothing is
// downloaded at run time. It is CommonJS, so it is loaded with require.
const require = createRequire(import.meta.url);
type Edr = typeof import('@nomicfoundation/edr');

/** A JSON-RPC request as EIP-1193 `request` takes it. */
export interface Eip1193Request {
  method: string;
  params?: unknown[] | object;
}

/** The EIP-1193 provider viem's `custom` transport wraps. */
export interface Eip1193Provider {
  request(args: Eip1193Request): Promise<unknown>;
}

export interface EmbeddedChainOptions {
  /** Chain id; 31337 like other local development chains unless given. */
  chainId?: number;
  /** Private keys funded at genesis with `balanceWei` each. */
  privateKeys: readonly `0x${string}`[];
  /** Ether (in wei) each key starts with; 10,000 ether unless given. */
  balanceWei?: bigint;
  /** Block gas limit; 60 million unless given. */
  blockGasLimit?: bigint;
  /** Timestamp of the genesis block in unix seconds; now unless given. */
  initialDate?: number;
}

/** A JSON-RPC error the embedded chain answered with; `data` carries revert data when there is any. */
export class RpcError extends Error {
  readonly code: number;
  readonly data?: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
}

/** The embedded EVM could not start (the native module is missing for this platform, or rejected the config). */
export class EmbeddedChainError extends CipherNexusError {
  constructor(cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super('CHAIN_EMBEDDED_UNAVAILABLE', `the in-process EVM (@nomicfoundation/edr) could not start: ${message}; run npm ci, or set a JSON-RPC URL instead`, { cause: message });
  }
}

// EdrContext must be constructed once per process; the L1 provider factory is registered once on it.
let context: Promise<EdrContextType> | undefined;

function edrContext(edr: Edr): Promise<EdrContextType> {
  context ??= (async () => {
    const ctx = new edr.EdrContext();
    await ctx.registerProviderFactory(edr.L1_CHAIN_TYPE, edr.l1ProviderFactory());
    return ctx;
  })();
  return context;
}

const hexToBytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex.replace(/^0x/, ''), 'hex'));

/**
 * Starts an in-process EVM (Nomic Foundation's EDR, the engine inside Hardhat) and returns it as an
 * EIP-1193 provider: automining, Prague rules, the given keys funded and owned, and the development
 * methods (evm_increaseTime, evm_mine, hardhat_mine, evm_snapshot, evm_revert) on.
 */
export async function createEmbeddedProvider(options: EmbeddedChainOptions): Promise<Eip1193Provider> {
  let provider: EdrProvider;
  try {
    const edr = require('@nomicfoundation/edr') as Edr;
    const { privateKeyToAddress } = await import('viem/accounts');
    const hardfork = edr.PRAGUE;
    const genesisState = [
      ...edr.l1GenesisState(edr.l1HardforkFromString(hardfork)),
      ...options.privateKeys.map((key) => ({ address: hexToBytes(privateKeyToAddress(key)), balance: options.balanceWei ?? 10n ** 22n })),
    ];
    const ctx = await edrContext(edr);
    provider = await ctx.createProvider(
      edr.L1_CHAIN_TYPE,
      {
        allowBlocksWithSameTimestamp: false,
        allowUnlimitedContractSize: false,
        bailOnCallFailure: true,
        bailOnTransactionFailure: false,
        blockGasLimit: options.blockGasLimit ?? 60_000_000n,
        chainId: BigInt(options.chainId ?? 31337),
        coinbase: hexToBytes('0xc014ba5ec014ba5ec014ba5ec014ba5ec014ba5e'),
        genesisState,
        hardfork,
        initialBaseFeePerGas: 1_000_000_000n,
        initialDate: options.initialDate === undefined ? undefined : BigInt(options.initialDate),
        minGasPrice: 0n,
        mining: { autoMine: true, memPool: { order: edr.MineOrdering.Priority } },
        networkId: BigInt(options.chainId ?? 31337),
        observability: {},
        ownedAccounts: [...options.privateKeys],
        precompileOverrides: [],
      },
      { enable: false, decodeConsoleLogInputsCallback: () => [], printLineCallback: () => undefined },
      { subscriptionCallback: () => undefined },
      new edr.ContractDecoder(),
    );
  } catch (error) {
    throw new EmbeddedChainError(error);
  }
  let id = 0;
  return {
    async request({ method, params }: Eip1193Request): Promise<unknown> {
      const response = await provider.handleRequest(JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: params ?? [] }));
      const body = (typeof response.data === 'string' ? JSON.parse(response.data) : response.data) as {
        result?: unknown;
        error?: { code: number; message: string; data?: unknown };
      };
      if (body.error) {
        // EDR nests revert data as { data: '0x…' }; clients (viem, ethers) expect the hex itself
        // under `data`, with code 3 as geth answers a revert.
        const nested = body.error.data as { data?: unknown } | undefined;
        if (typeof nested?.data === 'string' && nested.data.startsWith('0x')) throw new RpcError(3, body.error.message, nested.data);
        throw new RpcError(body.error.code, body.error.message, body.error.data);
      }
      return body.result;
    },
  };
}
