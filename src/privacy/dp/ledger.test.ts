import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CipherNexusError, InvalidInputError, NotFoundError, StateError, openStorage, type Storage } from '../../core/index.js';
import { RdpAccountant, type PrivacyEvent } from './accountant.js';
import { DpBudgetExceededError, PrivacyLedger, type PrivacyScope } from './ledger.js';

const mnist: PrivacyScope = { kind: 'dataset', id: 'mnist' };
const clinic: PrivacyScope = { kind: 'participant', id: 'clinic-a' };
const DELTA = 1e-5;
// 100 DP-SGD steps at q = 0.01, sigma = 1: epsilon 1.22, 1.39, 1.48, 1.57 after rounds 1..4 (improved conversion).
const step: PrivacyEvent = { kind: 'sampled-gaussian', samplingRate: 0.01, noiseMultiplier: 1, steps: 100 };

let storage: Storage;
let ledger: PrivacyLedger;
let clock: number;

beforeEach(() => {
  storage = openStorage({ path: ':memory:' });
  clock = 1_000;
  ledger = new PrivacyLedger(storage, { now: () => clock++ });
});

afterEach(async () => {
  await storage.close();
});

/** The error a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<CipherNexusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CipherNexusError);
  return error as CipherNexusError;
}

function epsilonOf(events: PrivacyEvent[], delta = DELTA): number {
  const accountant = new RdpAccountant();
  for (const event of events) accountant.compose(event);
  return accountant.getEpsilon(delta).epsilon;
}

describe('PrivacyLedger budgets', () => {
  it('sets and replaces a budget, keeping when it was created', async () => {
    expect(await ledger.setBudget(mnist, { epsilon: 2, delta: DELTA })).toEqual({ scope: mnist, epsilon: 2, delta: DELTA, createdAt: 1000, updatedAt: 1000 });
    await ledger.setBudget(mnist, { epsilon: 3, delta: 1e-6 });
    expect(await storage.privacy.getBudget(mnist)).toEqual({ scope: mnist, epsilon: 3, delta: 1e-6, createdAt: 1000, updatedAt: 1001 });
    expect(await ledger.spent(mnist)).toMatchObject({ scope: mnist, epsilon: 0, delta: 1e-6, budget: { epsilon: 3, delta: 1e-6 }, charges: 0 });
  });

  it.each([
    [{ kind: 'dataset', id: 'mnist' }, { epsilon: 0, delta: DELTA }, /epsilon/],
    [{ kind: 'dataset', id: 'mnist' }, { epsilon: -1, delta: DELTA }, /epsilon/],
    [{ kind: 'dataset', id: 'mnist' }, { epsilon: Infinity, delta: DELTA }, /epsilon/],
    [{ kind: 'dataset', id: 'mnist' }, { epsilon: 1, delta: 0 }, /delta/],
    [{ kind: 'dataset', id: 'mnist' }, { epsilon: 1, delta: 1 }, /delta/],
    [{ kind: 'model', id: 'mnist' }, { epsilon: 1, delta: DELTA }, /kind/],
    [{ kind: 'dataset', id: '' }, { epsilon: 1, delta: DELTA }, /id/],
  ])('refuses scope %j with budget %j and stores nothing', async (scope, budget, message) => {
    const error = await failure(ledger.setBudget(scope as PrivacyScope, budget));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.code).toBe('DP_BUDGET_INVALID');
    expect(error.message).toMatch(message);
    expect(await storage.privacy.listBudgets()).toEqual([]);
  });

  it('refuses to lower a budget below what is spent, measured at the new delta, and keeps the old one', async () => {
    await ledger.setBudget(mnist, { epsilon: 2, delta: DELTA });
    await ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: mnist, events: [step, step] }] });
    const spent = (await ledger.spent(mnist)).epsilon;
    const error = await failure(ledger.setBudget(mnist, { epsilon: 1, delta: DELTA }));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.code).toBe('DP_BUDGET_BELOW_SPENT');
    expect(error.message).toBe(
      `dataset 'mnist' has already spent epsilon ${Number(spent.toPrecision(4))} at delta ${DELTA}, more than the requested budget of epsilon 1; set a budget of at least epsilon ${Number(spent.toPrecision(4))}`,
    );
    // The same RDP is a larger epsilon at a smaller delta: 1.5 covers it at 1e-5 but not at 1e-12.
    await expect(ledger.setBudget(mnist, { epsilon: 1.5, delta: 1e-12 })).rejects.toThrow(/DP_BUDGET_BELOW_SPENT|already spent/);
    expect(await storage.privacy.getBudget(mnist)).toMatchObject({ epsilon: 2, delta: DELTA });
    await ledger.setBudget(mnist, { epsilon: 1.5, delta: DELTA });
    expect((await ledger.spent(mnist)).budget).toEqual({ epsilon: 1.5, delta: DELTA });
  });

  it('lists every scope with a budget, and names the command to set one for a scope without', async () => {
    await ledger.setBudget(clinic, { epsilon: 8, delta: 1e-6 });
    await ledger.setBudget(mnist, { epsilon: 2, delta: DELTA });
    await ledger.charge({ jobId: 'j1', round: 0, charges: [{ scope: mnist, events: [step] }] });
    expect((await ledger.scopes()).map((s) => [s.scope.kind, s.scope.id, s.charges])).toEqual([
      ['dataset', 'mnist', 1],
      ['participant', 'clinic-a', 0],
    ]);
    const error = await failure(ledger.spent({ kind: 'dataset', id: 'cifar' }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.code).toBe('DP_BUDGET_NOT_FOUND');
    expect(error.message).toMatch(/dataset 'cifar' has no privacy budget; .*cipher-nexus budget set --dataset cifar --epsilon E --delta D/);
    await expect(ledger.history({ kind: 'dataset', id: 'cifar' })).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('PrivacyLedger charges', () => {
  it('charges round after round until the budget refuses the next one, which leaves the ledger unchanged', async () => {
    await ledger.setBudget(mnist, { epsilon: 1.5, delta: DELTA });
    const after: number[] = [];
    for (let round = 1; round <= 3; round++) {
      const [receipt] = await ledger.charge({ jobId: 'j1', round, charges: [{ scope: mnist, events: [step] }] });
      after.push(receipt.epsilonAfter);
      expect(receipt.epsilonAfter).toBeCloseTo(epsilonOf(Array(round).fill(step)), 12);
    }
    const before = await storage.privacy.listCharges(mnist);

    const error = await failure(ledger.charge({ jobId: 'j1', round: 4, charges: [{ scope: mnist, events: [step] }] }));
    expect(error).toBeInstanceOf(DpBudgetExceededError);
    expect(error).toBeInstanceOf(StateError);
    expect(error.code).toBe('DP_BUDGET_EXCEEDED');
    const fmt = (x: number): string => String(Number(x.toPrecision(4)));
    expect(error.message).toBe(
      `round 4 of job 'j1' was refused and nothing was charged: dataset 'mnist' would reach epsilon ${fmt(epsilonOf([step, step, step, step]))} ` +
        `but its budget is epsilon 1.5 at delta ${DELTA} (already spent ${fmt(after[2])}, this round alone ${fmt(epsilonOf([step]))}). ` +
        'Raise the budget (cipher-nexus budget set --dataset mnist --epsilon E --delta D), add more noise (a larger noise multiplier), or run fewer rounds or steps',
    );
    expect(error.details).toMatchObject({ jobId: 'j1', round: 4, overruns: [{ scope: mnist, budget: { epsilon: 1.5, delta: DELTA }, spentEpsilon: after[2] }] });

    expect(await storage.privacy.listCharges(mnist)).toEqual(before);
    expect(await ledger.spent(mnist)).toMatchObject({ epsilon: after[2], charges: 3 });
    expect((await ledger.history(mnist)).map((e) => [e.jobId, e.round, e.epsilonAfter])).toEqual([
      ['j1', 1, after[0]],
      ['j1', 2, after[1]],
      ['j1', 3, after[2]],
    ]);
  });

  it('composes exactly in RDP: two charges of an event equal one charge of twice the steps, well below the summed epsilons', async () => {
    const twice: PrivacyScope = { kind: 'dataset', id: 'twice' };
    const once: PrivacyScope = { kind: 'dataset', id: 'once' };
    await ledger.setBudget(twice, { epsilon: 10, delta: DELTA });
    await ledger.setBudget(once, { epsilon: 10, delta: DELTA });
    await ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: twice, events: [step] }] });
    await ledger.charge({ jobId: 'j1', round: 2, charges: [{ scope: twice, events: [step] }] });
    await ledger.charge({ jobId: 'j2', round: 1, charges: [{ scope: once, events: [{ ...step, steps: 200 }] }] });
    const composed = (await ledger.spent(twice)).epsilon;
    expect(Math.abs(composed - (await ledger.spent(once)).epsilon)).toBeLessThan(1e-9);
    expect(Math.abs(composed - epsilonOf([step, step]))).toBeLessThan(1e-9);
    expect(composed).toBeLessThan(2 * epsilonOf([step]) * 0.6);
  });

  it('composes heterogeneous events and merges a scope named twice into one charge', async () => {
    await ledger.setBudget(mnist, { epsilon: 10, delta: DELTA });
    const laplace: PrivacyEvent = { kind: 'laplace', scale: 10, steps: 1 };
    const gaussian: PrivacyEvent = { kind: 'gaussian', noiseMultiplier: 5, steps: 1 };
    const receipts = await ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: mnist, events: [step, laplace] }, { scope: mnist, events: [gaussian] }] });
    expect(receipts).toHaveLength(1);
    expect(receipts[0].epsilonAfter).toBeCloseTo(epsilonOf([step, laplace, gaussian]), 12);
    expect((await ledger.history(mnist))[0].events).toEqual([step, laplace, gaussian]);
  });

  it('charges every scope of a round or none: one scope over budget, or without a budget, leaves all untouched', async () => {
    await ledger.setBudget(mnist, { epsilon: 10, delta: DELTA });
    await ledger.setBudget(clinic, { epsilon: 1.3, delta: DELTA });
    await ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: mnist, events: [step] }, { scope: clinic, events: [step] }] });

    const over = await failure(ledger.charge({ jobId: 'j1', round: 2, charges: [{ scope: mnist, events: [step] }, { scope: clinic, events: [step] }] }));
    expect(over.code).toBe('DP_BUDGET_EXCEEDED');
    const after = Number(new RdpAccountant().compose(step).compose(step).getEpsilon(DELTA).epsilon.toPrecision(4));
    expect(after).toBeGreaterThan(1.3);
    expect(over.message).toContain(`participant 'clinic-a' would reach epsilon ${after} but its budget is epsilon 1.3`);
    expect(over.message).not.toMatch(/dataset 'mnist' would/);

    const orphan: PrivacyScope = { kind: 'participant', id: 'clinic-b' };
    const missing = await failure(ledger.charge({ jobId: 'j1', round: 2, charges: [{ scope: mnist, events: [step] }, { scope: orphan, events: [step] }] }));
    expect(missing).toBeInstanceOf(StateError);
    expect(missing.code).toBe('DP_BUDGET_MISSING');
    expect(missing.message).toMatch(/participant 'clinic-b' has no privacy budget.*cipher-nexus budget set --participant clinic-b --epsilon E --delta D/);

    for (const scope of [mnist, clinic]) expect(await ledger.spent(scope)).toMatchObject({ charges: 1, epsilon: epsilonOf([step]) });
  });

  it('refuses bad events and a second charge of the same job round without charging anything', async () => {
    await ledger.setBudget(mnist, { epsilon: 10, delta: DELTA });
    await ledger.setBudget(clinic, { epsilon: 10, delta: DELTA });
    const bad = await failure(ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: mnist, events: [{ ...step, samplingRate: 1.5 }] }] }));
    expect(bad).toBeInstanceOf(InvalidInputError);
    expect(bad.code).toBe('DP_INPUT_INVALID');
    await expect(ledger.charge({ jobId: 'j1', round: 1.5, charges: [{ scope: mnist, events: [step] }] })).rejects.toMatchObject({ code: 'DP_CHARGE_INVALID' });
    await expect(ledger.charge({ jobId: '', round: 1, charges: [{ scope: mnist, events: [step] }] })).rejects.toMatchObject({ code: 'DP_CHARGE_INVALID' });
    await expect(ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: mnist, events: [] }] })).rejects.toMatchObject({ code: 'DP_CHARGE_INVALID' });

    await ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: mnist, events: [step] }] });
    const duplicate = await failure(ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: clinic, events: [step] }, { scope: mnist, events: [step] }] }));
    expect(duplicate.code).toBe('PRIVACY_CHARGE_DUPLICATE');
    expect((await ledger.spent(clinic)).charges).toBe(0);
    expect((await ledger.spent(mnist)).charges).toBe(1);
  });

  it('previews what a round would spend without charging it', async () => {
    await ledger.setBudget(mnist, { epsilon: 1.3, delta: DELTA });
    await ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: mnist, events: [step] }] });
    const [preview] = await ledger.preview([{ scope: mnist, events: [step] }]);
    expect(preview).toEqual({
      scope: mnist,
      budget: { epsilon: 1.3, delta: DELTA },
      spentEpsilon: epsilonOf([step]),
      roundEpsilon: epsilonOf([step]),
      epsilonAfter: epsilonOf([step, step]),
      withinBudget: false,
    });
    expect((await ledger.spent(mnist)).charges).toBe(1);
    await expect(ledger.preview([{ scope: clinic, events: [step] }])).rejects.toMatchObject({ code: 'DP_BUDGET_MISSING' });
  });

  it('serialises concurrent rounds so that together they cannot overspend', async () => {
    await ledger.setBudget(mnist, { epsilon: 1.45, delta: DELTA });
    const results = await Promise.allSettled(
      [1, 2, 3].map((round) => ledger.charge({ jobId: 'j1', round, charges: [{ scope: mnist, events: [step] }] })),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(await ledger.spent(mnist)).toMatchObject({ charges: 2, epsilon: epsilonOf([step, step]) });
  });

  it('uses the conversion it is given: classic is never tighter than improved', async () => {
    await ledger.setBudget(mnist, { epsilon: 5, delta: DELTA });
    await ledger.charge({ jobId: 'j1', round: 1, charges: [{ scope: mnist, events: [step] }] });
    const classic = new PrivacyLedger(storage, { conversion: 'classic' });
    expect(classic.conversion).toBe('classic');
    expect(ledger.conversion).toBe('improved');
    expect((await classic.spent(mnist)).epsilon).toBeGreaterThan((await ledger.spent(mnist)).epsilon);
    const [receipt] = await classic.charge({ jobId: 'j1', round: 2, charges: [{ scope: mnist, events: [step] }] });
    const accountant = new RdpAccountant().compose(step).compose(step);
    expect(receipt.epsilonAfter).toBeCloseTo(accountant.getEpsilon(DELTA, { conversion: 'classic' }).epsilon, 12);
    expect((await ledger.history(mnist)).map((e) => e.conversion)).toEqual(['improved', 'classic']);
  });

  it('searches every order over the recorded events unless given orders, and then composes only at orders every charge was recorded at', async () => {
    await ledger.setBudget(mnist, { epsilon: 10, delta: DELTA });
    const few = new PrivacyLedger(storage, { orders: [2, 8, 32] });
    await few.charge({ jobId: 'j1', round: 1, charges: [{ scope: mnist, events: [step] }] });
    await ledger.charge({ jobId: 'j1', round: 2, charges: [{ scope: mnist, events: [step] }] });
    const fixed = new RdpAccountant([2, 8, 32]).compose(step).compose(step).getEpsilon(DELTA).epsilon;
    expect((await few.spent(mnist)).epsilon).toBeCloseTo(fixed, 12);
    const searched = new RdpAccountant().compose(step).compose(step).getEpsilon(DELTA);
    expect(await ledger.spent(mnist)).toMatchObject({ epsilon: searched.epsilon, order: searched.order });
    expect(searched.epsilon).toBeLessThan(fixed);
    const disjoint = new PrivacyLedger(storage, { orders: [3] });
    await expect(disjoint.spent(mnist)).rejects.toMatchObject({ code: 'DP_LEDGER_ORDERS_MISMATCH' });
  });
});

describe('PrivacyLedger after a crash', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cn-ledger-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps round 1 and nothing of round 2 when the process is killed before round 2 commits', async () => {
    const path = join(dir, 'ledger.db');
    const here = (file: string): string => pathToFileURL(fileURLToPath(new URL(file, import.meta.url))).href;
    const script = join(dir, 'crash.mts');
    writeFileSync(
      script,
      `
import { openStorage } from ${JSON.stringify(here('../../core/index.ts'))};
import { PrivacyLedger } from ${JSON.stringify(here('./ledger.ts'))};

const storage = openStorage({ path: process.argv[2] });
const step = ${JSON.stringify(step)};
const scopes = ${JSON.stringify([mnist, clinic])};
const ledger = new PrivacyLedger(storage);
for (const scope of scopes) await ledger.setBudget(scope, { epsilon: 10, delta: ${DELTA} });
await ledger.charge({ jobId: 'j1', round: 1, charges: scopes.map((scope) => ({ scope, events: [step] })) });
process.stdout.write('round 1 committed\\n');

// The same storage, except that the process dies right after the first charge of a round is written.
const dying = new Proxy(storage, {
  get(target, key) {
    if (key === 'privacy') {
      return { ...target.privacy, insertCharge: async (charge) => {
        await target.privacy.insertCharge(charge);
        process.stdout.write('round ' + charge.round + ' written, not committed\\n');
        process.kill(process.pid, 'SIGKILL');
      } };
    }
    const value = Reflect.get(target, key);
    return typeof value === 'function' ? value.bind(target) : value;
  },
});
await new PrivacyLedger(dying).charge({ jobId: 'j1', round: 2, charges: scopes.map((scope) => ({ scope, events: [step] })) });
process.stdout.write('unreachable\\n');
`,
    );
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const child = spawnSync(process.execPath, ['--import', tsx, script, path], { encoding: 'utf8', timeout: 30_000 });
    expect(child.stderr).toBe('');
    expect(child.signal).toBe('SIGKILL');
    expect(child.stdout).toBe('round 1 committed\nround 2 written, not committed\n');

    const reopened = openStorage({ path });
    try {
      const after = new PrivacyLedger(reopened);
      for (const scope of [mnist, clinic]) {
        expect((await after.history(scope)).map((e) => [e.jobId, e.round])).toEqual([['j1', 1]]);
        expect((await after.spent(scope)).epsilon).toBeCloseTo(epsilonOf([step]), 12);
      }
      // The store is usable again: round 2 can be charged now.
      await after.charge({ jobId: 'j1', round: 2, charges: [{ scope: mnist, events: [step] }] });
      expect((await after.spent(mnist)).charges).toBe(2);
    } finally {
      await reopened.close();
    }
  });
});
