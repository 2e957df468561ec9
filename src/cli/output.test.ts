import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CipherNexusError, InvalidInputError, NotFoundError } from '../core/index.js';
import { EXIT_FAILURE, EXIT_USAGE, reportError, writeJsonFile } from './output.js';

describe('reportError', () => {
  afterEach(() => vi.restoreAllMocks());

  it('maps input errors to exit 2 and other failures to exit 1, one line each, no stack', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    expect(reportError(new InvalidInputError('CONFIG_INVALID', "config field 'rounds': bad"))).toBe(EXIT_USAGE);
    expect(reportError(new NotFoundError('model', 'm-1'))).toBe(EXIT_USAGE);
    expect(reportError(new CipherNexusError('ROUND_QUORUM_NOT_MET', 'too few'))).toBe(EXIT_FAILURE);
    expect(reportError(new Error('boom'))).toBe(EXIT_FAILURE);
    expect(lines[0]).toBe("error [CONFIG_INVALID]: config field 'rounds': bad\n");
    expect(lines[1]).toContain('m-1');
    expect(lines.every((l) => l.split('\n').length === 2 && !/\bat /.test(l))).toBe(true);
  });
});

describe('writeJsonFile', () => {
  it('creates folders and leaves no temporary file behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cn-out-'));
    try {
      const path = join(dir, 'a', 'b', 'report.json');
      writeJsonFile(path, { x: 1 });
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ x: 1 });
      expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['report.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
