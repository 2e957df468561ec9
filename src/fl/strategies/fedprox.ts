import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.js';
import { FedAvg } from './fedavg.js';
import type { FitInstructions } from './strategy.js';

/** Options of {@link FedProx}. */
export const FedProxOptionsSchema = z.object({
  /** Proximal weight mu ≥ 0 (Li et al. 2020 §3, h_k(w; w_t) = F_k(w) + (mu/2)||w − w_t||²); 0 is FedAvg. */
  mu: z.number().finite().nonnegative(),
});
export type FedProxOptions = z.infer<typeof FedProxOptionsSchema>;

/**
 * FedProx (Li et al. 2020, Algorithm 2): clients minimise their loss plus (mu/2)·||w − w_t||², which
 * limits client drift on heterogeneous data; the server step is FedAvg's weighted mean.
 */
export class FedProx extends FedAvg {
  override readonly name: string = 'fedprox';
  readonly mu: number;

  constructor(options: FedProxOptions) {
    super();
    const parsed = FedProxOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new InvalidInputError(
        'STRATEGY_CONFIG_INVALID',
        `FedProx needs a finite mu >= 0 (got ${JSON.stringify(options)}); typical values are 0.001 to 1`,
        parsed.error.issues,
      );
    }
    this.mu = parsed.data.mu;
  }

  /** Asks every client to add the proximal term with this strategy's mu. */
  override configureFit(_round: number): FitInstructions {
    return { proximalMu: this.mu };
  }
}
