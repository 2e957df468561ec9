import type { Address } from 'viem';
import { Rng } from '../src/core/index.js';
import { OrderBook, type Order } from '../src/market/index.js';
import type { BenchResult } from './bench-result.js';
import { FILL_GAS_TARGET, measureFillGas, STEADY_FILLS } from './market-gas.js';

const ORDERS = 100_000;
const RUNS = 5;
const TARGET = 200_000;
const SEED = 13;
const T0 = 1_800_000_000n;
/** One clock second passes every this many orders, so that short-lived orders expire during the run. */
const ORDERS_PER_SECOND = 100;

interface Stream {
  orders: Order[];
  /** The clock at which each order arrives. */
  times: bigint[];
}

/**
 * Seeded random orders for one asset: 1,000 makers, bids and asks evenly, prices in a band of 101
 * ticks of 0.001 NXS around 1 NXS (so most orders cross on arrival and the rest build depth),
 * 1 to 100 units, lifetimes of 10 seconds to an hour.
 */
function randomStream(count: number, seed: number): Stream {
  const rng = new Rng(seed);
  const makers = Array.from({ length: 1_000 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}` as Address);
  const nonces = new Array<bigint>(makers.length).fill(0n);
  const orders: Order[] = [];
  const times: bigint[] = [];
  for (let i = 0; i < count; i++) {
    const m = rng.int(makers.length);
    const now = T0 + BigInt(Math.floor(i / ORDERS_PER_SECOND));
    orders.push({
      assetId: 1n,
      side: rng.next() < 0.5 ? 'bid' : 'ask',
      price: BigInt(950 + rng.int(101)) * 10n ** 15n,
      units: BigInt(1 + rng.int(100)),
      expiry: now + BigInt(10 + rng.int(3_590)),
      nonce: nonces[m]++,
      maker: makers[m],
    });
    times.push(now);
  }
  return { orders, times };
}

interface MatchRun {
  seconds: number;
  fills: number;
  unitsFilled: bigint;
  expiredDropped: number;
  selfTradeCancelled: number;
  /** Orders open and unexpired on the book after the last order, counted after the clock stops. */
  openAtEnd: number;
}

function matchAll(stream: Stream, count: number): MatchRun {
  const book = new OrderBook(1n);
  let fills = 0;
  let unitsFilled = 0n;
  let expiredDropped = 0;
  let selfTradeCancelled = 0;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const result = book.place(stream.orders[i], stream.times[i]);
    fills += result.fills.length;
    for (const fill of result.fills) unitsFilled += fill.units;
    expiredDropped += result.expired.length;
    selfTradeCancelled += result.selfTradeCancelled.length;
  }
  const seconds = (performance.now() - start) / 1000;
  const depth = book.depth(Number.MAX_SAFE_INTEGER, stream.times[count - 1]);
  const openAtEnd = [...depth.bids, ...depth.asks].reduce((n, level) => n + level.orders, 0);
  return { seconds, fills, unitsFilled, expiredDropped, selfTradeCancelled, openAtEnd };
}

/**
 * The baseline: the same orders only put into price-time order (bids highest first, asks lowest
 * first, arrival breaking ties) by one Array.sort each, with no matching, no expiry and no nonce index.
 */
function sortOnly(stream: Stream): number {
  const start = performance.now();
  const bids: { price: bigint; seq: number }[] = [];
  const asks: { price: bigint; seq: number }[] = [];
  stream.orders.forEach((o, seq) => (o.side === 'bid' ? bids : asks).push({ price: o.price, seq }));
  bids.sort((a, b) => (a.price > b.price ? -1 : a.price < b.price ? 1 : a.seq - b.seq));
  asks.sort((a, b) => (a.price < b.price ? -1 : a.price > b.price ? 1 : a.seq - b.seq));
  return (performance.now() - start) / 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Matching throughput of one order book on 100k seeded random orders against sorting them, and gas per settled fill against an NXS transfer. */
export async function benchMarket(): Promise<BenchResult> {
  const stream = randomStream(ORDERS, SEED);
  // Warm-up, so that the timed runs measure optimised code rather than the JIT compiling it.
  matchAll(stream, ORDERS / 10);
  sortOnly(stream);
  const runs = Array.from({ length: RUNS }, () => matchAll(stream, ORDERS));
  const sorts = Array.from({ length: RUNS }, () => sortOnly(stream));
  const last = runs[runs.length - 1];
  const best = ORDERS / Math.min(...runs.map((r) => r.seconds));
  const typical = ORDERS / median(runs.map((r) => r.seconds));
  const baseline = ORDERS / median(sorts);
  const rows: Record<string, unknown>[] = [
    {
      kind: 'matching',
      orders: ORDERS,
      seed: SEED,
      runs: RUNS,
      ordersPerSecondMedian: Math.round(typical),
      ordersPerSecondBest: Math.round(best),
      secondsMedian: median(runs.map((r) => r.seconds)),
      fills: last.fills,
      unitsFilled: last.unitsFilled.toString(),
      expiredDropped: last.expiredDropped,
      selfTradeCancelled: last.selfTradeCancelled,
      openAtEnd: last.openAtEnd,
      target: TARGET,
      met: typical >= TARGET,
    },
    { kind: 'baseline', name: 'sort only (price-time order by Array.sort, no matching)', orders: ORDERS, ordersPerSecondMedian: Math.round(baseline), secondsMedian: median(sorts) },
  ];
  const gas = await measureFillGas();
  const steadyMedian = median(gas.steady);
  const steadyMax = Math.max(...gas.steady);
  const vsTransfer = (g: number): number => Number((g / gas.transfer).toFixed(2));
  rows.push(
    {
      kind: 'gas',
      name: 'settle, steady (resting ask filled before, new 1-unit bid, finite allowance)',
      fills: STEADY_FILLS,
      gasMedian: steadyMedian,
      gasMin: Math.min(...gas.steady),
      gasMax: steadyMax,
      vsTransferMedian: vsTransfer(steadyMedian),
      vsTransferMax: vsTransfer(steadyMax),
      target: FILL_GAS_TARGET,
      met: steadyMax < FILL_GAS_TARGET,
    },
    {
      kind: 'gas',
      name: 'settle, first fill on a fresh asset (ask, oracle words and escrow balance written from zero)',
      gas: gas.first,
      vsTransfer: vsTransfer(gas.first),
      target: FILL_GAS_TARGET,
      met: gas.first < FILL_GAS_TARGET,
    },
    { kind: 'gas baseline', name: 'NXS transfer (ERC-20, between two holders)', gas: gas.transfer },
  );
  const k = (x: number): string => Math.round(x).toLocaleString('en-US');
  const met = (g: number): string => (g < FILL_GAS_TARGET ? 'met' : 'NOT met');
  const table = [
    `${k(ORDERS)} seeded random orders on one book, one thread, median of ${RUNS} runs:`,
    `matching   ${k(typical).padStart(9)} orders/s (best ${k(best)}; target ${k(TARGET)}: ${typical >= TARGET ? 'met' : 'NOT met'})`,
    `           ${k(last.fills)} fills, ${last.unitsFilled} units; ${k(last.expiredDropped)} expired and ${k(last.selfTradeCancelled)} self-trade orders dropped; ${k(last.openAtEnd)} open at the end`,
    `sort only  ${k(baseline).padStart(9)} orders/s (baseline: price-time order by Array.sort, no matching); matching takes ${(baseline / typical).toFixed(1)}x its time`,
    '',
    `gas per settled fill (MarketEscrow.settle, 1 unit, in-process EVM) beside a plain NXS transfer on the same chain; target under ${k(FILL_GAS_TARGET)}:`,
    `steady fill     ${k(steadyMedian).padStart(7)} median, ${k(steadyMax)} max of ${STEADY_FILLS} (${vsTransfer(steadyMedian)}x / ${vsTransfer(steadyMax)}x the transfer; ${met(steadyMax)})`,
    `first fill      ${k(gas.first).padStart(7)} (${vsTransfer(gas.first)}x the transfer; ${met(gas.first)}: the ask's filled units, both oracle words and the escrow's balance start from zero)`,
    `NXS transfer    ${k(gas.transfer).padStart(7)} (baseline: ERC-20 transfer between two holders)`,
  ].join('\n');
  return {
    name: 'market',
    description: 'order matching: throughput of one limit order book on 100k seeded random orders against sorting them without matching; gas per settled fill against a plain NXS transfer',
    rows,
    table,
  };
}
