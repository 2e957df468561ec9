import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import type { BenchResult } from './bench-result.js';
import { benchChain } from './chain.js';
import { benchDp } from './dp.js';
import { benchFl } from './fl.js';
import { benchHe } from './he.js';
import { benchHeMultiparty } from './he-multiparty.js';
import { benchLeakage } from './leakage.js';
import { benchMarket } from './market.js';
import { benchNetwork } from './network.js';
import { benchScale } from './scale.js';
import { benchSecagg } from './secagg.js';
import { benchTee } from './tee.js';
import { benchZk } from './zk.js';

const benches: Record<string, () => Promise<BenchResult>> = { fl: benchFl, dp: benchDp, secagg: benchSecagg, he: benchHe, 'he-multiparty': benchHeMultiparty, chain: benchChain, network: benchNetwork, market: benchMarket, zk: benchZk, tee: benchTee, leakage: benchLeakage, scale: benchScale };

const only = process.argv.slice(2);
const unknown = only.filter((n) => !(n in benches));
if (unknown.length > 0) {
  process.stderr.write(`error: unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(benches).join(', ')}\n`);
  process.exit(2);
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
for (const [name, run] of Object.entries(benches)) {
  if (only.length > 0 && !only.includes(name)) continue;
  const result = await run();
  const machine = { node: process.version, cpus: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown' };
  writeFileSync(
    new URL(`./results/${name}.json`, import.meta.url),
    `${JSON.stringify({ name, description: result.description, date: new Date().toISOString(), machine, rows: result.rows }, null, 2)}\n`,
  );
  process.stdout.write(`\n## ${name}: ${result.description}\n${result.table}\n(bench/results/${name}.json)\n`);
}
