import { z } from 'zod';
import { parseWithSchema } from '../../core/index.js';
import { DEFAULT_CONVERSION, RdpAccountant, noiseMultiplierFor, type Conversion, type EpsilonResult, type PrivacyEvent } from './accountant.js';
import { gaussianMechanism, laplaceMechanism } from './mechanisms.js';
import { SecureNoiseSource, type NoiseSource } from './noise.js';

/** Configuration of `DifferentialPrivacy` (SYSTEM-ARCHITECTURE.md, "Differential Privacy"). */
export interface DPConfig {
  /** The epsilon each `addNoise` call is calibrated to. */
  epsilon: number;
  /** The delta each Gaussian release is calibrated to, and the delta at which spend is reported. */
  delta: number;
  /** L2 sensitivity for the Gaussian mechanism, L1 sensitivity for Laplace: clip the data to it first. */
  sensitivity: number;
  /** Defaults to 'gaussian'. */
  mechanism?: 'gaussian' | 'laplace';
  /** Defaults to a `SecureNoiseSource`; `SeededNoiseSource` is for tests only. */
  noiseSource?: NoiseSource;
  /** Fixed-point step of every release (rounded down to a power of two); default 1% of the sensitivity over sqrt(length) (Gaussian) or over the length (Laplace). */
  gridStep?: number;
  /** RDP to (epsilon, delta) conversion for reports; defaults to 'improved' (Balle et al. 2020). */
  conversion?: Conversion;
}

/** An operation whose privacy cost `computePrivacyBudget` adds up: one of the accountant's events. */
export type Operation = PrivacyEvent;

/** What has been spent so far, at the configured delta. */
export interface PrivacySpend {
  /** Number of `addNoise` calls. */
  releases: number;
  epsilon: number;
  delta: number;
  /** Which accounting gave the smaller epsilon: RDP composition, or summing each release's (epsilon, delta). */
  accounting: 'rdp' | 'basic-composition';
}

const isNoiseSource = (value: unknown): value is NoiseSource =>
  typeof value === 'object' && value !== null && typeof (value as NoiseSource).discreteGaussian === 'function' && typeof (value as NoiseSource).discreteLaplace === 'function';

const ConfigSchema = z
  .object({
    epsilon: z.number().gt(0).finite(),
    delta: z.number().gt(0).lt(1),
    sensitivity: z.number().gt(0).finite(),
    mechanism: z.enum(['gaussian', 'laplace']).default('gaussian'),
    noiseSource: z.custom<NoiseSource>(isNoiseSource, 'expected an object with discreteGaussian() and discreteLaplace()').optional(),
    gridStep: z.number().gt(0).finite().optional(),
    conversion: z.enum(['classic', 'improved']).default(DEFAULT_CONVERSION),
  })
  .strict();

const deltaSchema = z.number().gt(0).lt(1);
const epsilonSchema = z.number().min(0);
const options = { code: 'DP_CONFIG_INVALID' };

/**
 * Adds calibrated noise and keeps account of what it spent. Each `addNoise` call is
 * (epsilon, delta)-DP on its own; the total over many calls is the better of RDP composition
 * (Mironov 2017) and basic composition (Dwork & Roth 2014 Thm 3.16).
 */
export class DifferentialPrivacy {
  private readonly config: Required<Omit<DPConfig, 'noiseSource' | 'gridStep'>> & { gridStep?: number };
  private readonly source: NoiseSource;
  private readonly accountant = new RdpAccountant();
  /** Noise std in units of the sensitivity (Gaussian) or Laplace b / sensitivity; fixed by the config. */
  private readonly noiseRatio: number;
  private releases = 0;

  /** Validates the config and calibrates the noise once. */
  constructor(config: DPConfig) {
    const parsed = parseWithSchema(config, ConfigSchema, 'dp config', options);
    this.config = { epsilon: parsed.epsilon, delta: parsed.delta, sensitivity: parsed.sensitivity, mechanism: parsed.mechanism, conversion: parsed.conversion, gridStep: parsed.gridStep };
    this.source = parsed.noiseSource ?? new SecureNoiseSource();
    // The discrete Gaussian's RDP is at most the continuous one's (CKS 2020 Thm 4), so one release
    // is calibrated through RDP and the Balle et al. 2020 conversion; the analytic Gaussian
    // calibration (Balle & Wang 2018) is exact only for the continuous Gaussian.
    this.noiseRatio =
      parsed.mechanism === 'gaussian'
        ? noiseMultiplierFor({ targetEpsilon: parsed.epsilon, samplingRate: 1, steps: 1, delta: parsed.delta, conversion: parsed.conversion }).noiseMultiplier
        : 1 / parsed.epsilon;
  }

  /** The data rounded to the grid plus exact discrete noise calibrated to (epsilon, delta) and the sensitivity; returns the same kind of array it was given. */
  addNoise(data: number[]): number[];
  addNoise(data: Float32Array): Float32Array;
  addNoise(data: number[] | Float32Array): number[] | Float32Array {
    const { sensitivity, mechanism, gridStep } = this.config;
    const noisy =
      mechanism === 'gaussian'
        ? gaussianMechanism(data, { l2Sensitivity: sensitivity, noiseMultiplier: this.noiseRatio, gridStep }, this.source)
        : laplaceMechanism(data, { l1Sensitivity: sensitivity, epsilon: this.config.epsilon, gridStep }, this.source);
    this.accountant.compose(this.releaseEvent());
    this.releases += 1;
    return data instanceof Float32Array ? Float32Array.from(noisy) : Array.from(noisy);
  }

  private releaseEvent(): Operation {
    return this.config.mechanism === 'gaussian'
      ? { kind: 'gaussian', noiseMultiplier: this.noiseRatio, steps: 1 }
      : { kind: 'discrete-laplace', scale: this.noiseRatio, steps: 1 };
  }

  /** epsilon at the configured delta of running all `operations` (RDP composition), without touching this instance's spend. */
  computePrivacyBudget(operations: Operation[]): number {
    const accountant = new RdpAccountant();
    for (const operation of operations) accountant.compose(operation);
    return accountant.getEpsilon(this.config.delta, { conversion: this.config.conversion }).epsilon;
  }

  /** True when everything `addNoise` released so far is (epsilon, delta)-DP. */
  verifyGuarantees(epsilon: number, delta: number): boolean {
    parseWithSchema(epsilon, epsilonSchema, 'epsilon', options);
    parseWithSchema(delta, deltaSchema, 'delta', options);
    const basic = this.basicComposition();
    if (basic.epsilon <= epsilon && basic.delta <= delta) return true;
    return this.rdpEpsilon(delta).epsilon <= epsilon;
  }

  /** The spend so far at the configured delta, by whichever valid accounting is tighter. */
  spent(): PrivacySpend {
    const { delta } = this.config;
    const rdp = this.rdpEpsilon(delta);
    const basic = this.basicComposition();
    if (basic.delta <= delta && basic.epsilon <= rdp.epsilon) {
      return { releases: this.releases, epsilon: basic.epsilon, delta, accounting: 'basic-composition' };
    }
    return { releases: this.releases, epsilon: rdp.epsilon, delta, accounting: 'rdp' };
  }

  /** k releases of an (epsilon, delta)-DP mechanism are (k epsilon, k delta)-DP (Dwork & Roth 2014 Thm 3.16); Laplace has delta 0. */
  private basicComposition(): { epsilon: number; delta: number } {
    const perDelta = this.config.mechanism === 'gaussian' ? this.config.delta : 0;
    return { epsilon: this.releases * this.config.epsilon, delta: this.releases * perDelta };
  }

  private rdpEpsilon(delta: number): EpsilonResult {
    return this.accountant.getEpsilon(delta, { conversion: this.config.conversion });
  }
}
