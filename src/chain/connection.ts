import { pbkdf2Sync } from 'node:crypto';
import {
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  http,
  type Chain,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
  type Account,
} from 'viem';
import { HDKey, hdKeyToAccount, privateKeyToAccount } from 'viem/accounts';
import { InvalidInputError, StateError } from '../core/errors.js';
import { createEmbeddedProvider } from './edr-provider.js';

/** The development mnemonic of Hardhat and Anvil, so embedded accounts match a local dev node's. Never for real funds. */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk';

/** Where the chain is: the in-process EVM (default) or a JSON-RPC endpoint. */
export interface ChainConfig {
  /** A JSON-RPC URL (a local dev node or a public network); the in-process EVM when absent. */
  rpcUrl?: string;
  /** Signing keys; the first is the default signer. Defaults to `devAccounts` keys of {@link DEV_MNEMONIC}. */
  privateKeys?: readonly Hex[];
  /** How many development accounts to derive and fund when `privateKeys` is absent; 10 unless given. */
  devAccounts?: number;
  /** Chain id of the in-process EVM; 31337 unless given. Read from the endpoint for `rpcUrl`. */
  chainId?: number;
}

/** One open chain: a viem public client, signers, and time travel where the chain allows it. */
export interface ChainConnection {
  readonly kind: 'embedded' | 'rpc';
  readonly chain: Chain;
  readonly publicClient: PublicClient<Transport, Chain>;
  /** Every signer this connection holds; the first is the default. */
  readonly accounts: readonly LocalAccount[];
  /** A wallet client signing as `account` (cached per address). */
  walletFor(account: LocalAccount): WalletClient<Transport, Chain, Account>;
  /** Moves the chain's clock forward by `seconds` and mines a block (development chains only). */
  increaseTime(seconds: number | bigint): Promise<void>;
  /** Mines `blocks` empty blocks at once (development chains only). */
  mine(blocks: number | bigint): Promise<void>;
  /** Saves the chain state; {@link revert} returns to it (development chains only). */
  snapshot(): Promise<Hex>;
  /** Returns to a state saved by {@link snapshot}; the id is used up. */
  revert(id: Hex): Promise<void>;
}

/** BIP-39 seed (PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic") and BIP-44 keys m/44'/60'/0'/0/i. */
export function devPrivateKeys(count: number, mnemonic = DEV_MNEMONIC): Hex[] {
  const seed = pbkdf2Sync(mnemonic.normalize('NFKD'), 'mnemonic', 2048, 64, 'sha512');
  const master = HDKey.fromMasterSeed(seed);
  return Array.from({ length: count }, (_, i) => {
    const key = hdKeyToAccount(master, { addressIndex: i }).getHdKey().privateKey;
    if (!key) throw new StateError('CHAIN_KEY_DERIVATION', `could not derive development key ${i}`);
    return `0x${Buffer.from(key).toString('hex')}` as Hex;
  });
}

const localChain = (id: number, rpcUrl = 'http://127.0.0.1:8545'): Chain =>
  defineChain({ id, name: id === 31337 ? 'Cipher Nexus (in-process)' : `chain ${id}`, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });

/** Opens the in-process EVM (no node needed) or, with `rpcUrl`, any JSON-RPC endpoint; the same viem code runs on both. */
export async function openChain(config: ChainConfig = {}): Promise<ChainConnection> {
  const keys = config.privateKeys ?? devPrivateKeys(config.devAccounts ?? 10);
  if (keys.length === 0) throw new InvalidInputError('CHAIN_NO_KEYS', 'give at least one private key to sign with');
  const accounts = keys.map((key) => {
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new InvalidInputError('CHAIN_BAD_KEY', 'a private key must be 0x followed by 64 hex digits');
    return privateKeyToAccount(key);
  });
  let transport: Transport;
  let chain: Chain;
  let kind: 'embedded' | 'rpc';
  if (config.rpcUrl === undefined) {
    kind = 'embedded';
    const provider = await createEmbeddedProvider({ privateKeys: keys, chainId: config.chainId });
    transport = custom(provider, { retryCount: 0 });
    chain = localChain(config.chainId ?? 31337);
  } else {
    kind = 'rpc';
    if (!/^https?:\/\//.test(config.rpcUrl)) throw new InvalidInputError('CHAIN_BAD_RPC_URL', `the RPC URL must start with http:// or https://, got '${config.rpcUrl}'`);
    transport = http(config.rpcUrl, { retryCount: 1 });
    const probe = createPublicClient({ transport });
    chain = localChain(await probe.getChainId(), config.rpcUrl);
  }
  // Blocks come at once on a development chain; poll receipts often so a transaction costs milliseconds.
  const publicClient = createPublicClient({ chain, transport, pollingInterval: kind === 'embedded' ? 5 : 1_000 });
  const wallets = new Map<string, WalletClient<Transport, Chain, Account>>();
  const dev = async (method: string, params: unknown[]): Promise<unknown> => {
    try {
      return await publicClient.request({ method, params } as never);
    } catch (error) {
      throw new StateError('CHAIN_NOT_DEVELOPMENT', `${method} is not available on this chain (time travel needs the in-process EVM or a local dev node)`, {
        cause: error instanceof Error ? error.message : String(error),
      });
    }
  };
  return {
    kind,
    chain,
    publicClient,
    accounts,
    walletFor(account) {
      let wallet = wallets.get(account.address);
      if (!wallet) {
        wallet = createWalletClient({ account, chain, transport, pollingInterval: publicClient.pollingInterval });
        wallets.set(account.address, wallet);
      }
      return wallet;
    },
    async increaseTime(seconds) {
      await dev('evm_increaseTime', [`0x${BigInt(seconds).toString(16)}`]);
      await dev('evm_mine', []);
    },
    async mine(blocks) {
      await dev('hardhat_mine', [`0x${BigInt(blocks).toString(16)}`]);
    },
    async snapshot() {
      return (await dev('evm_snapshot', [])) as Hex;
    },
    async revert(id) {
      if ((await dev('evm_revert', [id])) !== true) throw new StateError('CHAIN_SNAPSHOT_UNKNOWN', `snapshot ${id} does not exist or was used`);
    },
  };
}
