import { NotFoundError } from '../../errors.js';
import { privacyChargeDuplicate } from '../conflicts.js';
import type { PrivacyRepository } from '../repository.js';
import { encodeRdp, privacyBudgetFromRow, privacyChargeFromRow, type PrivacyBudgetRow, type PrivacyChargeRow } from '../rows.js';
import { isSqliteError, type Run } from './connection.js';

/** Privacy budgets and the charges against them in SQLite. */
export function privacyRepository(run: Run): PrivacyRepository {
  return {
    setBudget: (budget) =>
      run((db) => {
        db.prepare(
          `INSERT INTO privacy_budgets (scope_kind, scope_id, epsilon, delta, created_at, updated_at)
           VALUES (@kind, @id, @epsilon, @delta, @createdAt, @updatedAt)
           ON CONFLICT (scope_kind, scope_id) DO UPDATE SET epsilon = excluded.epsilon, delta = excluded.delta,
             updated_at = excluded.updated_at`,
        ).run({
          kind: budget.scope.kind,
          id: budget.scope.id,
          epsilon: budget.epsilon,
          delta: budget.delta,
          createdAt: budget.createdAt,
          updatedAt: budget.updatedAt,
        });
      }),
    getBudget: (scope) =>
      run((db) => {
        const row = db
          .prepare('SELECT * FROM privacy_budgets WHERE scope_kind = ? AND scope_id = ?')
          .get(scope.kind, scope.id) as PrivacyBudgetRow | undefined;
        return row && privacyBudgetFromRow(row);
      }),
    listBudgets: () =>
      run((db) =>
        (db.prepare('SELECT * FROM privacy_budgets ORDER BY scope_kind, scope_id').all() as PrivacyBudgetRow[]).map(
          privacyBudgetFromRow,
        ),
      ),
    insertCharge: (charge) =>
      run((db) => {
        const { kind, id } = charge.scope;
        if (!db.prepare('SELECT 1 FROM privacy_budgets WHERE scope_kind = ? AND scope_id = ?').get(kind, id)) {
          throw new NotFoundError('privacy_budget', `${kind}:${id}`);
        }
        try {
          db.prepare(
            `INSERT INTO privacy_charges (id, scope_kind, scope_id, job_id, round, events, orders, rdp,
               epsilon_after, delta, conversion, created_at)
             VALUES (@id, @kind, @scopeId, @jobId, @round, @events, @orders, @rdp,
               @epsilonAfter, @delta, @conversion, @createdAt)`,
          ).run({
            id: charge.id,
            kind,
            scopeId: id,
            jobId: charge.jobId,
            round: charge.round,
            events: JSON.stringify(charge.events),
            orders: JSON.stringify(charge.orders),
            rdp: encodeRdp(charge.rdp),
            epsilonAfter: charge.epsilonAfter,
            delta: charge.delta,
            conversion: charge.conversion,
            createdAt: charge.createdAt,
          });
        } catch (error) {
          if (isSqliteError(error, 'SQLITE_CONSTRAINT_UNIQUE')) {
            throw privacyChargeDuplicate(charge);
          }
          throw error;
        }
      }),
    listCharges: (scope) =>
      run((db) =>
        (
          db
            .prepare('SELECT * FROM privacy_charges WHERE scope_kind = ? AND scope_id = ? ORDER BY created_at, rowid')
            .all(scope.kind, scope.id) as PrivacyChargeRow[]
        ).map(privacyChargeFromRow),
      ),
  };
}
