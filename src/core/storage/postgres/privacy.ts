import { NotFoundError } from '../../errors.js';
import { privacyChargeDuplicate } from '../conflicts.js';
import type { PrivacyRepository } from '../repository.js';
import { encodeRdp, privacyBudgetFromRow, privacyChargeFromRow, type PrivacyBudgetRow, type PrivacyChargeRow } from '../rows.js';
import { FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION, violated, type Run } from './query.js';

/** Privacy budgets and the charges against them in PostgreSQL. */
export function privacyRepository(run: Run): PrivacyRepository {
  return {
    setBudget: (budget) =>
      run(async (query) => {
        await query(
          `INSERT INTO privacy_budgets (scope_kind, scope_id, epsilon, delta, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (scope_kind, scope_id) DO UPDATE SET epsilon = EXCLUDED.epsilon, delta = EXCLUDED.delta,
             updated_at = EXCLUDED.updated_at`,
          [budget.scope.kind, budget.scope.id, budget.epsilon, budget.delta, budget.createdAt, budget.updatedAt],
        );
      }),
    getBudget: (scope) =>
      run(async (query) => {
        const { rows } = await query<PrivacyBudgetRow>('SELECT * FROM privacy_budgets WHERE scope_kind = $1 AND scope_id = $2', [
          scope.kind,
          scope.id,
        ]);
        return rows[0] && privacyBudgetFromRow(rows[0]);
      }),
    listBudgets: () =>
      run(async (query) =>
        (await query<PrivacyBudgetRow>('SELECT * FROM privacy_budgets ORDER BY scope_kind, scope_id')).rows.map(privacyBudgetFromRow),
      ),
    insertCharge: (charge) =>
      run(async (query) => {
        const { kind, id } = charge.scope;
        try {
          await query(
            `INSERT INTO privacy_charges (id, scope_kind, scope_id, job_id, round, events, orders, rdp,
               epsilon_after, delta, conversion, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
            [
              charge.id,
              kind,
              id,
              charge.jobId,
              charge.round,
              JSON.stringify(charge.events),
              JSON.stringify(charge.orders),
              encodeRdp(charge.rdp),
              charge.epsilonAfter,
              charge.delta,
              charge.conversion,
              charge.createdAt,
            ],
          );
        } catch (error) {
          if (violated(error, FOREIGN_KEY_VIOLATION, 'privacy_charges_budget_fkey')) throw new NotFoundError('privacy_budget', `${kind}:${id}`);
          if (violated(error, UNIQUE_VIOLATION, 'privacy_charges_scope_round_key')) {
            throw privacyChargeDuplicate(charge);
          }
          throw error;
        }
      }),
    listCharges: (scope) =>
      run(async (query) => {
        const { rows } = await query<PrivacyChargeRow>(
          'SELECT * FROM privacy_charges WHERE scope_kind = $1 AND scope_id = $2 ORDER BY created_at, seq',
          [scope.kind, scope.id],
        );
        return rows.map(privacyChargeFromRow);
      }),
  };
}
