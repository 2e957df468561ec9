import { describe, expect, it } from 'vitest';
import { runInProcess } from '../../test/support/cli-in-process.js';
import { buildProgram } from './program.js';

describe('client command', () => {
  it('client --protection with an unknown protection stops with one line and exit code 2', async () => {
    const outcome = await runInProcess(buildProgram(), ['client', '--key', 'k.json', '--data', 'd.csv', '--protection', 'secagg,plain']);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr.trim().split('\n')).toEqual([expect.stringMatching(/PROTECTION_FLOOR_INVALID.*'plain'/)]);
  });
});
