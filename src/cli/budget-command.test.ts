import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidInputError, NotFoundError, openStorage, type Storage } from '../core/index.js';
import { PrivacyLedger, RdpAccountant, type PrivacyEvent } from '../privacy/dp/index.js';
import { registerBudgetCommand } from './budget-command.js';
import { EXIT_USAGE, reportError } from './output.js';

const step: PrivacyEvent = { kind: 'sampled-gaussian', samplingRate: 0.01, noiseMultiplier: 1, steps: 100 };
const epsilonOf = (n: number): number => {
  const accountant = new RdpAccountant();
  for (let i = 0; i < n; i++) accountant.compose(step);
  return accountant.getEpsilon(1e-5).epsilon;
};

let dir: string;
let path: string;
let opened: number;
let closed: number;

/** Opens the test database the way the CLI's `--db` would, counting opens and closes. */
async function open(): Promise<Storage> {
  const storage = openStorage({ path });
  opened += 1;
  const close = storage.close.bind(storage);
  storage.close = () => {
    closed += 1;
    return close();
  };
  return storage;
}

async function run(args: string[]): Promise<string> {
  const program = new Command('cipher-nexus').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerBudgetCommand(program, open);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out;
}

/** Charges `rounds` rounds of `step` to the data set 'mnist' and the participant 'clinic-a' through the library. */
async function charge(rounds: number): Promise<void> {
  const storage = openStorage({ path });
  try {
    const ledger = new PrivacyLedger(storage);
    for (let round = 1; round <= rounds; round++) {
      await ledger.charge({
        jobId: 'job-1',
        round,
        charges: [
          { scope: { kind: 'dataset', id: 'mnist' }, events: [step] },
          { scope: { kind: 'participant', id: 'clinic-a' }, events: [step] },
        ],
      });
    }
  } finally {
    await storage.close();
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-budget-'));
  path = join(dir, 'cn.db');
  opened = 0;
  closed = 0;
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

describe('budget set and show', () => {
  it('sets budgets and shows every scope, as a table and as JSON', async () => {
    expect(await run(['budget', 'show'])).toBe('no privacy budgets yet: set one with `cipher-nexus budget set --dataset ID --epsilon E --delta D`\n');
    expect(await run(['budget', 'set', '--dataset', 'mnist', '--epsilon', '3', '--delta', '1e-5'])).toBe(
      "dataset 'mnist': budget epsilon 3 at delta 0.00001, spent 0.0000 in 0 charges\n",
    );
    await run(['budget', 'set', '--participant', 'clinic-a', '--epsilon', '2', '--delta', '1e-5']);
    await charge(2);

    expect(await run(['budget', 'show'])).toBe(
      [
        'kind         id        epsilon spent / budget  delta      charges',
        `dataset      mnist     ${epsilonOf(2).toFixed(4)} / 3              0.00001    2`,
        `participant  clinic-a  ${epsilonOf(2).toFixed(4)} / 2              0.00001    2`,
        '',
      ].join('\n'),
    );
    expect(JSON.parse(await run(['budget', 'show', '--participant', 'clinic-a', '--json']))).toEqual([
      { kind: 'participant', id: 'clinic-a', epsilonSpent: epsilonOf(2), epsilonBudget: 2, delta: 1e-5, charges: 2 },
    ]);
    expect(opened).toBe(closed);
  });

  it('refuses a budget below what is spent and keeps the old one', async () => {
    await run(['budget', 'set', '--dataset', 'mnist', '--epsilon', '3', '--delta', '1e-5']);
    await run(['budget', 'set', '--participant', 'clinic-a', '--epsilon', '3', '--delta', '1e-5']);
    await charge(2);
    const attempt = run(['budget', 'set', '--dataset', 'mnist', '--epsilon', '1', '--delta', '1e-5']);
    await expect(attempt).rejects.toBeInstanceOf(InvalidInputError);
    await expect(attempt).rejects.toMatchObject({ code: 'DP_BUDGET_BELOW_SPENT' });
    expect(JSON.parse(await run(['budget', 'show', '--dataset', 'mnist', '--json']))[0].epsilonBudget).toBe(3);
    expect(opened).toBe(closed);
  });
});

describe('budget history', () => {
  it('prints one line per charge, oldest first, and the same as JSON', async () => {
    await run(['budget', 'set', '--dataset', 'mnist', '--epsilon', '3', '--delta', '1e-5']);
    expect(await run(['budget', 'history', '--dataset', 'mnist'])).toBe("dataset 'mnist' has no charges yet\n");
    await run(['budget', 'set', '--participant', 'clinic-a', '--epsilon', '3', '--delta', '1e-5']);
    await charge(3);
    expect(await run(['budget', 'history', '--dataset', 'mnist'])).toBe(
      ['job    round  epsilon after', ...[1, 2, 3].map((r) => `job-1      ${r}  ${epsilonOf(r).toFixed(4)}`), ''].join('\n'),
    );
    const json = JSON.parse(await run(['budget', 'history', '--participant', 'clinic-a', '--json']));
    expect(json.map((e: { round: number; epsilonAfter: number }) => [e.round, e.epsilonAfter])).toEqual([1, 2, 3].map((r) => [r, epsilonOf(r)]));
    expect(json[0]).toMatchObject({ jobId: 'job-1', delta: 1e-5, conversion: 'improved', events: [step] });
  });
});

describe('budget errors', () => {
  it('reports an unknown scope as NotFoundError, which the CLI prints as one line with exit code 2', async () => {
    await run(['budget', 'set', '--dataset', 'mnist', '--epsilon', '3', '--delta', '1e-5']);
    for (const args of [
      ['budget', 'show', '--dataset', 'cifar'],
      ['budget', 'history', '--participant', 'nobody'],
    ]) {
      const error = await run(args).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(NotFoundError);
      let stderr = '';
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        stderr += String(chunk);
        return true;
      });
      expect(reportError(error)).toBe(EXIT_USAGE);
      vi.restoreAllMocks();
      expect(stderr).toMatch(/^error \[DP_BUDGET_NOT_FOUND\]: (dataset 'cifar'|participant 'nobody') has no privacy budget; [^\n]*\n$/);
    }
    expect(opened).toBe(closed);
  });

  it.each([
    [['budget', 'set', '--dataset', 'mnist', '--epsilon', '0', '--delta', '1e-5'], CommanderError, /--epsilon must be a positive number, got '0'/],
    [['budget', 'set', '--dataset', 'mnist', '--epsilon', 'abc', '--delta', '1e-5'], CommanderError, /--epsilon must be a positive number, got 'abc'/],
    [['budget', 'set', '--dataset', 'mnist', '--epsilon', '1', '--delta', '1'], CommanderError, /--delta must be a number in \(0, 1\), got '1'/],
    [['budget', 'set', '--dataset', 'mnist', '--epsilon', '1'], CommanderError, /required option '--delta <d>' not specified/],
    [['budget', 'set', '--epsilon', '1', '--delta', '1e-5'], InvalidInputError, /give exactly one of --dataset ID or --participant ID, got 0/],
    [['budget', 'history', '--dataset', 'a', '--participant', 'b'], InvalidInputError, /give exactly one of --dataset ID or --participant ID, got 2/],
  ])('%j fails with one clear line and changes nothing', async (args, kind, message) => {
    const attempt = run(args);
    await expect(attempt).rejects.toBeInstanceOf(kind);
    await expect(attempt).rejects.toThrow(message);
    expect(opened).toBe(0);
    expect(await run(['budget', 'show', '--json'])).toBe('[]\n');
  });
});
