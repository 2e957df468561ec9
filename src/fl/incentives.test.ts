import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../core/index.js';
import { prepareJob, runJob, type PreparedJob } from './federated-job.js';
import type { AdmissionRefusal, IncentivesSummary, RoundContributions, RoundIncentives, RoundSettlementReport } from './incentives.js';
import { demoConfig } from './job-config.js';

const zero = { units: '0', display: '0 T' };

/** Incentives without a ledger: records what the job asked and refuses what it is told to. */
class RecordingIncentives implements RoundIncentives {
  readonly admitted: string[][] = [];
  readonly settled: { round: number; outcome: RoundContributions }[] = [];
  constructor(
    private readonly refuse: (ids: readonly string[], call: number) => string[],
    private readonly weights: Record<string, number> = {},
  ) {}
  async admit(clientIds: readonly string[]): Promise<AdmissionRefusal[]> {
    this.admitted.push([...clientIds]);
    return this.refuse(clientIds, this.admitted.length).map((clientId) => ({ clientId, code: 'NODE_STAKE_TOO_LOW', reason: `${clientId} has no stake` }));
  }
  async selectionWeights(clientIds: readonly string[]): Promise<Record<string, number>> {
    return Object.fromEntries(clientIds.map((id) => [id, this.weights[id] ?? 1]));
  }
  async settle(round: number, outcome: RoundContributions): Promise<RoundSettlementReport> {
    this.settled.push({ round, outcome });
    return { rewardRoot: `0x${String(round).padStart(64, '0')}`, ledgerRound: String(100 + round), paid: zero, rewards: [], slashed: [] };
  }
  async finish(): Promise<IncentivesSummary> {
    return { network: 'test ledger', rewardPerRound: zero, minimumStake: zero, balances: [] };
  }
}

let storage: Storage;
let prepared: PreparedJob;

beforeAll(async () => {
  storage = openStorage({ path: ':memory:' });
  const config = { ...demoConfig({ clients: 4, rounds: 3, seed: 5 }), training: { epochs: 1 }, execution: { mode: 'in-process' as const } };
  prepared = await prepareJob(config);
}, 60_000);
afterAll(async () => {
  await storage.close();
});

describe('a job with incentives', () => {
  it('registers only admitted nodes, drops a node refused between rounds, and settles every round with examples as scores', async () => {
    // client-01 is refused at registration; client-03 loses its standing before round 2.
    const incentives = new RecordingIncentives((ids, call) => (call === 1 ? ['client-01'] : call === 3 ? ['client-03'] : []).filter((id) => ids.includes(id)));
    const report = await runJob(prepared, storage, {}, { incentives });
    expect(incentives.admitted[0]).toEqual(['client-00', 'client-01', 'client-02', 'client-03']);
    expect(report.rounds.map((r) => r.participants)).toEqual([
      ['client-00', 'client-02', 'client-03'],
      ['client-00', 'client-02'],
      ['client-00', 'client-02'],
    ]);
    expect(report.chain?.refused).toEqual([
      { clientId: 'client-01', round: 0, code: 'NODE_STAKE_TOO_LOW', reason: 'client-01 has no stake' },
      { clientId: 'client-03', round: 2, code: 'NODE_STAKE_TOO_LOW', reason: 'client-03 has no stake' },
    ]);
    const examples = new Map(report.participants.map((p) => [p.id, p.numExamples]));
    expect(incentives.settled.map((s) => s.round)).toEqual([1, 2, 3]);
    expect(incentives.settled[0].outcome.contributions).toEqual(['client-00', 'client-02', 'client-03'].map((clientId) => ({ clientId, score: examples.get(clientId) })));
    expect(report.chain?.rewardRoots).toEqual([1, 2, 3].map((r) => `0x${String(r).padStart(64, '0')}`));
    expect(report.rounds[1].settlement?.ledgerRound).toBe('102');
    expect(report.chain?.network).toBe('test ledger');
    expect(await storage.nodes.list()).toHaveLength(0);
  }, 60_000);

  it('passes flagged clients with their evidence, and selection follows the weights', async () => {
    const attacked = await prepareJob({ ...demoConfig({ clients: 6, rounds: 3, seed: 5 }), training: { epochs: 1 }, execution: { mode: 'in-process' }, adversaries: { clients: 1, kind: 'scale', factor: 10 }, selection: { fraction: 0.5, minClients: 2 } });
    const [attacker] = attacked.adversaries.keys();
    const favourite = attacker === 'client-03' ? 'client-02' : 'client-03';
    // Weights a million times the others' make both all but certain to be among the three of six drawn
    // each round; uniform selection would include both in all three rounds with probability (1/5)^3.
    const incentives = new RecordingIncentives(() => [], { [favourite]: 1e6, [attacker]: 1e6 });
    const report = await runJob(attacked, storage, {}, { incentives });
    for (const r of report.rounds) {
      expect(r.participants).toHaveLength(3);
      expect(r.participants).toEqual(expect.arrayContaining([attacker, favourite]));
    }
    const flagged = incentives.settled.flatMap((s) => s.outcome.flagged);
    expect(flagged.length).toBeGreaterThan(0);
    for (const f of flagged) expect(f).toEqual({ clientId: attacker, evidence: expect.stringMatching(new RegExp(`^job job-[0-9a-f-]+ round \\d ${attacker}: (cosine|norm) -?[\\d.]+`)) });
  }, 60_000);
});
