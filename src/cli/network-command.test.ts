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

describe('serve command', () => {
  it.each(['0', '31', '2.5', 'often'])('serve --heartbeat-seconds %s stops with one line naming the range, exit code 2', async (value) => {
    const outcome = await runInProcess(buildProgram(), ['serve', '--config', 'job.yaml', '--kit-dir', 'kits', '--heartbeat-seconds', value]);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`--heartbeat-seconds must be a whole number of seconds from 1 to 30, got '${value.replace('.', '\\.')}'`))]);
  });
});
