import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectStorage } from './index.js';
import { SqliteStorage } from './sqlite/index.js';
import { expectCode, node } from './storage-contract.js';

describe('connectStorage', () => {
  it('opens SQLite for ":memory:" and for a file path, creating the file', async () => {
    const memory = await connectStorage(':memory:');
    expect(memory).toBeInstanceOf(SqliteStorage);
    await memory.close();

    const dir = mkdtempSync(join(tmpdir(), 'cn-connect-'));
    try {
      const path = join(dir, 'sub', 'cn.db');
      const file = await connectStorage(path, { busyTimeoutMs: 100 });
      expect(file).toBeInstanceOf(SqliteStorage);
      await file.nodes.upsert(node('n1'));
      await file.close();
      expect(existsSync(path)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses URLs of other databases instead of taking them for file names', async () => {
    const error = await expectCode(connectStorage('mysql://db.example/cn'), 'STORAGE_URL_UNSUPPORTED');
    expect(error.message).toContain('postgres://');
  });
});
