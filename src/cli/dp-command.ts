import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CONVERSION, computeEpsilon, noiseMultiplierFor, type Conversion, type NoiseMechanism } from '../privacy/dp/index.js';
import { printJson } from './output.js';

/** A parser for a numeric flag that must satisfy `ok`; `expected` completes "--flag must be ...". */
function numberFlag(flag: string, expected: string, ok: (n: number) => boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || !ok(n)) {
      throw new InvalidArgumentError(`${flag} must be ${expected}, got '${value}'`);
    }
    return n;
  };
}

const samplingRate = numberFlag('--sampling-rate', 'a number in (0, 1]', (n) => n > 0 && n <= 1);
const noiseMultiplier = numberFlag('--noise-multiplier', 'a positive number', (n) => n > 0);
const targetEpsilon = numberFlag('--target-epsilon', 'a positive number', (n) => n > 0);
const delta = numberFlag('--delta', 'a number in (0, 1)', (n) => n > 0 && n < 1);
const steps = numberFlag('--steps', 'a non-negative integer', (n) => Number.isSafeInteger(n) && n >= 0);

const conversionOption = (): Option =>
  new Option('--conversion <kind>', 'RDP to (epsilon, delta) conversion: classic (Mironov 2017) or improved (Balle et al. 2020)')
    .choices(['classic', 'improved'])
    .default(DEFAULT_CONVERSION);

const discreteOption = (): Option =>
  new Option('--discrete', "account for the exact discrete Gaussian that jobs release (Zhu & Wang's bound for Poisson subsampling), not the continuous one");

interface AccountingOptions {
  samplingRate: number;
  steps: number;
  delta: number;
  conversion: Conversion;
  discrete?: boolean;
  json?: boolean;
}

const mechanismOf = (opts: AccountingOptions): NoiseMechanism => (opts.discrete ? 'discrete-gaussian' : 'gaussian');

/** Adds `dp epsilon` and `dp noise`, a privacy calculator for planning DP-SGD jobs, to the program. */
export function registerDpCommand(program: Command): void {
  const dp = program.command('dp').description('differential privacy calculator (Renyi DP accountant of the subsampled Gaussian, Mironov et al. 2019)');

  dp.command('epsilon')
    .description('epsilon spent by T steps of DP-SGD with Poisson sampling rate Q and noise multiplier S, at delta D (at the best RDP order up to 20,000, fractional ones included)')
    .requiredOption('--sampling-rate <q>', 'probability that an example is in a batch, in (0, 1]', samplingRate)
    .requiredOption('--noise-multiplier <s>', 'noise std divided by the clipping norm, > 0', noiseMultiplier)
    .requiredOption('--steps <t>', 'number of training steps', steps)
    .requiredOption('--delta <d>', 'target delta, in (0, 1)', delta)
    .addOption(conversionOption())
    .addOption(discreteOption())
    .option('--json', 'print JSON')
    .action((opts: AccountingOptions & { noiseMultiplier: number }) => {
      const mechanism = mechanismOf(opts);
      const { epsilon, order } = computeEpsilon(opts.samplingRate, opts.noiseMultiplier, opts.steps, opts.delta, opts.conversion, mechanism);
      if (opts.json) return printJson({ epsilon, order, conversion: opts.conversion, mechanism });
      process.stdout.write(`epsilon = ${epsilon.toFixed(4)} at delta = ${opts.delta} (RDP order ${Number(order.toFixed(2))}, ${opts.conversion} conversion, ${mechanism})\n`);
    });

  dp.command('noise')
    .description('smallest noise multiplier that keeps T steps of DP-SGD with sampling rate Q within (E, D)')
    .requiredOption('--target-epsilon <e>', 'epsilon budget, > 0', targetEpsilon)
    .requiredOption('--sampling-rate <q>', 'probability that an example is in a batch, in (0, 1]', samplingRate)
    .requiredOption('--steps <t>', 'number of training steps', steps)
    .requiredOption('--delta <d>', 'target delta, in (0, 1)', delta)
    .addOption(conversionOption())
    .addOption(discreteOption())
    .option('--json', 'print JSON')
    .action((opts: AccountingOptions & { targetEpsilon: number }) => {
      const mechanism = mechanismOf(opts);
      const found = noiseMultiplierFor({ targetEpsilon: opts.targetEpsilon, samplingRate: opts.samplingRate, steps: opts.steps, delta: opts.delta, conversion: opts.conversion, mechanism });
      if (opts.json) return printJson({ noiseMultiplier: found.noiseMultiplier, epsilon: found.epsilon, conversion: opts.conversion, mechanism });
      process.stdout.write(
        `noise multiplier = ${found.noiseMultiplier.toFixed(4)} gives epsilon = ${found.epsilon.toFixed(4)} at delta = ${opts.delta} (${opts.conversion} conversion, ${mechanism})\n`,
      );
    });
}
