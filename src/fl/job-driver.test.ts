import { describe, expect, it } from 'vitest';
import { CipherNexusError, openStorage, type Storage } from '../core/index.js';
import { prepareJob, type PreparedJob } from './federated-job.js';
import { InProcessChannel } from './in-process-channel.js';
import { demoConfig, type JobConfigInput } from './job-config.js';
import { JobDriver } from './job-driver.js';
import type { JobOutcome } from './job-outcome.js';
import type { RoundReport } from './report.js';
import { createClientRunner } from './simulation.js';

/** A simulated job's driver over in-process participants, as runJob builds it, with the driver in hand. */
async function openDriver(prepared: PreparedJob, storage: Storage): Promise<{ driver: JobDriver; close: () => Promise<void> }> {
  const { config, spec, test, clients } = prepared;
  const runner = await createClientRunner(spec, clients, { mode: 'in-process', workers: 1 });
  const channel = new InProcessChannel(runner, new Map([...clients].map(([id, data]) => [id, { numExamples: data.numExamples }])));
  const driver = await JobDriver.open({ config, spec, test, datasetId: prepared.datasetId }, storage, channel, { resume: false, durable: false, openMembership: false });
  await channel.connect(driver);
  return { driver, close: () => runner.close() };
}

const finalizedRounds = async (storage: Storage, jobId: string): Promise<number> => (await storage.rounds.list({ jobId })).filter((r) => r.status === 'finalized').length;

describe('JobDriver pause, resume and abort', () => {
  it('holds before the next round while paused, then ends with the very model of an uninterrupted run', async () => {
    const prepared = await prepareJob({ ...demoConfig({ clients: 3, rounds: 3, seed: 11 }), training: { epochs: 1 }, execution: { mode: 'in-process' } });
    const plainStore = openStorage({ path: ':memory:' });
    const plain = await openDriver(prepared, plainStore);
    const uninterrupted = await plain.driver.run();
    await plain.close();

    const storage = openStorage({ path: ':memory:' });
    const { driver, close } = await openDriver(prepared, storage);
    const states: string[] = [];
    driver.on('control', (state: string) => states.push(state));
    const paused = new Promise<void>((resolve) => driver.on('control', (state: string) => state === 'paused' && resolve()));
    driver.on('round', (round: RoundReport) => {
      // Asked during round 1's report: round 2 must not open until resumed.
      if (round.round === 1) expect(driver.pause()).toBe(true);
    });
    const run = driver.run();
    await paused;
    expect(driver.controlState).toBe('paused');
    expect(driver.pause()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await finalizedRounds(storage, driver.jobId)).toBe(1);
    expect((await storage.rounds.list({ jobId: driver.jobId })).length).toBe(1);
    expect(driver.resume()).toBe(true);
    expect(driver.resume()).toBe(false);
    const outcome: JobOutcome = await run;
    await close();
    expect(states).toEqual(['pausing', 'paused', 'running']);
    expect(outcome.rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    expect(outcome.model.sha256).toBe(uninterrupted.model.sha256);
    await storage.close();
    await plainStore.close();
  });

  it('ends a paused job as failed when it is aborted, without running another round', async () => {
    const prepared = await prepareJob({ ...demoConfig({ clients: 3, rounds: 3, seed: 11 }), training: { epochs: 1 }, execution: { mode: 'in-process' } });
    const storage = openStorage({ path: ':memory:' });
    const { driver, close } = await openDriver(prepared, storage);
    const paused = new Promise<void>((resolve) => driver.on('control', (state: string) => state === 'paused' && resolve()));
    driver.on('round', (round: RoundReport) => round.round === 1 && driver.pause());
    const run = driver.run().then(
      () => undefined,
      (error: unknown) => error,
    );
    await paused;
    driver.fail(new CipherNexusError('JOB_ABORTED_BY_OPERATOR', 'aborted by an operator'));
    const error = await run;
    await close();
    expect((error as CipherNexusError).code).toBe('JOB_ABORTED_BY_OPERATOR');
    expect((await storage.jobs.get(driver.jobId))?.status).toBe('failed');
    expect(await finalizedRounds(storage, driver.jobId)).toBe(1);
    await storage.close();
  });
});

/** How the last participant (by id) misbehaves: a protected update cut short, or the last byte of one stage's message flipped. */
type Fault = 'truncated-update' | { forge: string };

/**
 * A protected job in simulation where one participant misbehaves each round (`fault`), its message handed over as a
 * network session would: refused, the participant told, the job going on. The round deadline is long: were the
 * refused participant still awaited, the test would time out.
 */
async function jobWithOneBadParticipant(privacy: JobConfigInput['privacy'], clients: number, fault: Fault = 'truncated-update'): Promise<{ outcome: JobOutcome; bad: string; refusals: unknown[]; contributors: string[][] }> {
  const prepared = await prepareJob({ ...demoConfig({ clients, rounds: 2, seed: 3 }), privacy, round: { quorum: 0.5, deadlineSeconds: 600 }, training: { epochs: 1 }, execution: { mode: 'in-process' } });
  const bad = [...prepared.clients.keys()].sort()[clients - 1];
  const storage = openStorage({ path: ':memory:' });
  const { config, spec, test, clients: data } = prepared;
  const runner = await createClientRunner(spec, data, { mode: 'in-process', workers: 1 });
  const channel = new InProcessChannel(runner, new Map([...data].map(([id, d]) => [id, { numExamples: d.numExamples }])));
  const driver = await JobDriver.open({ config, spec, test, datasetId: prepared.datasetId }, storage, channel, { resume: false, durable: false, openMembership: false });
  const refusals: unknown[] = [];
  if (fault === 'truncated-update') {
    const submit = driver.submit.bind(driver);
    driver.submit = async (id, update) => {
      if (id !== bad) return submit(id, update);
      const { sha256: _, ...rest } = update;
      return submit(id, { ...rest, body: update.body.subarray(0, update.body.byteLength - 64) }).catch((error: unknown) => {
        refusals.push(error);
        return 'duplicate' as const;
      });
    };
  } else {
    // A stage message is refused without an exception reaching the channel: the driver reports it as an event.
    driver.on('refused', (refusal: { participantId: string; code: string; message: string }) => refusals.push(refusal));
    const receiveStage = driver.receiveStage.bind(driver);
    driver.receiveStage = async (id, message) => {
      if (id !== bad || message.stage !== fault.forge) return receiveStage(id, message);
      const body = Uint8Array.from(message.body);
      body[body.length - 1] ^= 1;
      return receiveStage(id, { ...message, body });
    };
  }
  await channel.connect(driver);
  const outcome = await driver.run();
  await runner.close();
  const contributors: string[][] = [];
  for (const round of await storage.rounds.list({ jobId: driver.jobId })) contributors.push((await storage.rounds.listUpdates(round.id)).map((u) => u.clientId));
  await storage.close();
  return { outcome, bad, refusals, contributors };
}

/** Both rounds summed `others` contributions, none of them the bad participant's. */
function expectEachRoundWithout(contributors: string[][], bad: string, others: number): void {
  expect(contributors).toHaveLength(2);
  for (const ids of contributors) {
    expect(ids).toHaveLength(others);
    expect(ids).not.toContain(bad);
  }
}

describe('JobDriver with a participant sending a malformed protected update or protocol message', () => {
  it('CKKS: refuses those ciphertexts alone, at once, and opens each round with the others', async () => {
    const { outcome, bad, refusals, contributors } = await jobWithOneBadParticipant({ he: 'ckks' }, 4);
    expect(outcome.status).toBe('completed');
    expect(refusals).toHaveLength(2);
    for (const refusal of refusals) {
      expect(refusal).toBeInstanceOf(CipherNexusError);
      expect((refusal as CipherNexusError).code).toMatch(/^HE_/);
      expect(String((refusal as Error).message)).toContain(`the ciphertexts from '${bad}' were refused`);
    }
    expectEachRoundWithout(contributors, bad, 3);
  }, 120_000);

  it('CKKS: refuses forged round keys and goes on without their participant at once, not at the stage deadline', async () => {
    // The last participant by id holds no key share (the committee is the first three), so its round keys are refused alone.
    const { outcome, bad, refusals, contributors } = await jobWithOneBadParticipant({ he: 'ckks', heStageSeconds: 60 }, 4, { forge: 'identity' });
    expect(outcome.status).toBe('completed');
    expect(refusals).toHaveLength(2);
    for (const refusal of refusals) expect(refusal).toMatchObject({ participantId: bad, code: 'CKKS_IDENTITY_FORGED' });
    expectEachRoundWithout(contributors, bad, 3);
  }, 100_000);

  it('SecAgg+: refuses that masked vector alone, at once; the participant counts as a drop-out and each round sums the others', async () => {
    const { outcome, bad, refusals, contributors } = await jobWithOneBadParticipant({ secagg: { stageSeconds: 60 } }, 6);
    expect(outcome.status).toBe('completed');
    expect(refusals).toHaveLength(2);
    for (const refusal of refusals) {
      expect(refusal).toBeInstanceOf(CipherNexusError);
      expect((refusal as CipherNexusError).code).toMatch(/^SECAGG_/);
      expect(String((refusal as Error).message)).toContain(`the masked vector from '${bad}' was refused`);
    }
    expectEachRoundWithout(contributors, bad, 5);
  }, 120_000);

  it('SecAgg+: refuses a forged key bundle and drops its participant from the round at once, not at the stage deadline', async () => {
    // Each stage waits 60 s for those it expects: a round that kept expecting the refused participant would outlast the test.
    const { outcome, bad, refusals, contributors } = await jobWithOneBadParticipant({ secagg: { stageSeconds: 60 } }, 6, { forge: 'advertiseKeys' });
    expect(outcome.status).toBe('completed');
    expect(refusals).toHaveLength(2);
    for (const refusal of refusals) expect(refusal).toMatchObject({ participantId: bad, code: expect.stringMatching(/^SECAGG_BAD_/) });
    expectEachRoundWithout(contributors, bad, 5);
  }, 100_000);
});
