import { cpSync, mkdtempSync, rmSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ARTIFACTS_DIR, MANIFEST_FILE, artifactsProblem, readManifest } from './artifacts-manifest.js';
import { SOURCE_HASH } from './artifacts.js';
import { sourceHash } from './compiler.js';

describe('generated contract artefacts', () => {
  let copy: string | undefined;
  afterEach(() => {
    if (copy) rmSync(copy, { recursive: true, force: true });
    copy = undefined;
  });
  const copyOfArtifacts = (): string => {
    copy = mkdtempSync(join(tmpdir(), 'cn-artifacts-'));
    cpSync(ARTIFACTS_DIR, copy, { recursive: true });
    return copy;
  };

  it('match the current contracts/ and are as the build wrote them (else run npm run build:contracts)', () => {
    expect(artifactsProblem()).toBeUndefined();
    expect(readManifest()?.sourceHash).toBe(sourceHash());
    expect(SOURCE_HASH).toBe(sourceHash());
  });

  it('are reported stale when the contracts change', () => {
    expect(artifactsProblem(ARTIFACTS_DIR, '0'.repeat(64))).toMatch(/other contracts\/ sources/);
  });

  it('are reported edited when a generated file no longer has the hash the build recorded', () => {
    const dir = copyOfArtifacts();
    appendFileSync(join(dir, 'Staking.js'), '\n');
    expect(artifactsProblem(dir)).toMatch(/Staking\.js differs/);
  });

  it('are reported missing when a file or the manifest is gone', () => {
    const dir = copyOfArtifacts();
    unlinkSync(join(dir, 'Reputation.d.ts'));
    expect(artifactsProblem(dir)).toMatch(/Reputation\.d\.ts is missing/);
    writeFileSync(join(dir, MANIFEST_FILE), 'not json');
    expect(artifactsProblem(dir)).toMatch(/no manifest\.json/);
  });
});
