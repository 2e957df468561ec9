import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CipherNexusError, InvalidInputError, NotFoundError } from '../core/index.js';
import { JobValidationError } from '../fl/index.js';
import { EXIT_FAILURE, EXIT_USAGE, EXIT_VALIDATION_FAILED, reportError, writeJsonFile } from './output.js';

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

  it('maps a job whose model failed its validation to exit 3, naming what it missed', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const failure = { code: 'METRIC_ACCURACY' as const, message: 'accuracy 0.6 is below the required 0.9', value: 0.6, limit: 0.9 };
    expect(reportError(new JobValidationError('job-1', [failure]))).toBe(EXIT_VALIDATION_FAILED);
    expect(EXIT_VALIDATION_FAILED).toBe(3);
    expect(lines).toEqual([
      "error [JOB_VALIDATION_FAILED]: job job-1 failed its validation: accuracy 0.6 is below the required 0.9; its model is stored, but see the report's warnings for what to change\n",
    ]);
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
