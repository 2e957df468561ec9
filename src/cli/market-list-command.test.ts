import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MarketClient, nxs, startEmbeddedNexus, type EmbeddedNexus } from '../chain/index.js';
import { InvalidInputError, StateError, connectStorage, type Storage } from '../core/index.js';
import { openAsset } from '../market/index.js';
import { registerMarketCommands } from './market-command.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

let n: EmbeddedNexus;
let dir: string;
let db: string;
let csv: string;
let schema: string;
let contentHash: `0x${string}`;

beforeAll(async () => {
  n = await startEmbeddedNexus({ accounts: 2, allocation: nxs(1_000) });
  dir = mkdtempSync(join(tmpdir(), 'cn-market-list-'));
  db = join(dir, 'db.sqlite');
  csv = join(dir, 'digits.csv');
  writeFileSync(csv, `${readFileSync(join(root, 'data', 'optdigits', 'optdigits.tes'), 'utf8').split('\n').slice(0, 60).join('\n')}\n`);
  schema = join(dir, 'schema.json');
  writeFileSync(schema, JSON.stringify({ columns: [...Array.from({ length: 64 }, (_, i) => ({ name: `p${i}`, type: 'numeric' })), { name: 'digit', type: 'categorical' }], label: 'digit' }));
  process.env.CN_TEST_LIST_VAULT = 'a passphrase for the test';
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `market list` in-process as the owner over the store `storage` gives, returning stdout. */
async function list(extra: string[], storage: () => Promise<Storage> = () => connectStorage(db)): Promise<string> {
  const program = new Command('cipher-nexus').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerMarketCommands(program, { open: async () => n.participants[0], storage });
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    const args = ['list', '--csv', csv, '--schema', schema, '--title', 'Digits', '--category', 'vision', '--task', 'classification', '--licence', 'CC-BY-4.0'];
    await program.parseAsync(['market', ...args, '--region', 'eu', '--consent', 'research', '--budget-epsilon', '6', '--unit-rounds', '2', '--unit-epsilon', '2', ...extra], { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out;
}

/** A real store whose `method` of the market repository fails, as a full disk or a lost database would. */
async function failingStore(method: 'upsertAsset' | 'insertOrder'): Promise<Storage> {
  const storage = await connectStorage(db);
  storage.market[method] = async () => {
    throw new Error('database is locked');
  };
  return storage;
}

/** What a listing may change: the tokens the owner holds for this content, the catalogue, the book, and the files beside the data. */
async function state() {
  const storage = await connectStorage(db);
  try {
    return {
      tokens: (await new MarketClient(n.conn, n.deployment).listedBy(n.participants[0].account, contentHash)).map((t) => t.id),
      catalogue: (await storage.market.searchAssets({ now: 0 })).map((h) => h.asset.id),
      orders: (await storage.market.listOrders()).length,
      files: readdirSync(dir).sort(),
    };
  } finally {
    await storage.close();
  }
}

describe('market list leaves no half-done listing', () => {
  it('refuses an unwritable vault before minting anything', async () => {
    contentHash = `0x${(JSON.parse(await list(['--json'])) as { contentHash: string }).contentHash}`;
    const before = await state();
    const error = await list(['--vault', join(dir, 'no', 'such', 'folder', 'digits.vault'), '--passphrase-env', 'CN_TEST_LIST_VAULT']).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({ code: 'CLI_VAULT_UNWRITABLE' });
    expect(await state()).toEqual(before);
  });

  it('a catalogue that fails after the mint leaves no vault, and the same command run again adopts the token instead of minting another', async () => {
    const vault = join(dir, 'digits.vault');
    const before = await state();
    const args = ['--vault', vault, '--passphrase-env', 'CN_TEST_LIST_VAULT', '--json'];
    const error = await list(args, () => failingStore('upsertAsset')).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(StateError);
    expect(error).toMatchObject({ code: 'CLI_LIST_INCOMPLETE', message: expect.stringMatching(/was minted on chain but not catalogued \(database is locked\); run the same market list again/) });
    const broken = await state();
    expect(broken.tokens).toHaveLength(before.tokens.length + 1);
    expect({ ...broken, tokens: before.tokens }).toEqual(before);

    const listed = JSON.parse(await list(args)) as { assetId: string; tx: string | null };
    expect(listed).toMatchObject({ assetId: broken.tokens.at(-1)?.toString(), tx: null });
    const after = await state();
    expect(after.tokens).toEqual(broken.tokens);
    expect(after.catalogue).toEqual([...before.catalogue, listed.assetId]);
    expect(after.files).toEqual([...before.files, 'digits.vault'].sort());
    expect(Buffer.from(openAsset(readFileSync(vault), listed.assetId, 'a passphrase for the test'))).toEqual(readFileSync(csv));
  });

  it('an ask that cannot be placed says the asset is listed and how to offer it', async () => {
    const error = await list(['--price', '1', '--units', '1'], () => failingStore('insertOrder')).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'CLI_ASK_NOT_PLACED', message: expect.stringMatching(/^asset (\d+) is listed and catalogued, but its ask was not placed .*market order --asset \1 --side ask$/) });
    const id = /^asset (\d+)/.exec((error as Error).message)?.[1];
    expect((await state()).catalogue).toContain(id);
    expect(existsSync(join(dir, '.cipher-nexus'))).toBe(false);
  });
});
