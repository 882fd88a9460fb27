// Emergency freeze: one audited admin action halts new quotes, payment confirmations and releases,
// desk-wide or for one asset or one client. Checked inside the same transaction as the action it guards,
// so an action that races a freeze either commits before it or is refused.
import { appendAudit } from '../audit/log.ts';
import type { Actor } from '../config/types.ts';
import type { Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';

export type FreezeScope = 'desk' | `asset:${string}` | `client:${string}`;
export type Freeze = { scope: string; reason: string; frozenBy: string; frozenAt: Date };

const SCOPE = /^(desk|asset:[A-Z0-9-]{1,20}|client:[A-Za-z0-9._:-]{1,64})$/;

export function parseScope(value: unknown): FreezeScope {
  if (typeof value !== 'string' || !SCOPE.test(value))
    throw invalid('scope', 'must be desk, asset:<id> or client:<id>');
  return value as FreezeScope;
}

/** Whether the desk, the asset or the client is frozen. */
export async function isFrozen(q: Queryable, what: { asset?: string; clientId?: string }): Promise<boolean> {
  try {
    await assertNotFrozen(q, what, 'check');
    return false;
  } catch (e) {
    if (e instanceof OtcError && e.code === 'frozen') return true;
    throw e;
  }
}

/** Refuses with `frozen` when the desk, the asset or the client is frozen. */
export async function assertNotFrozen(
  q: Queryable,
  what: { asset?: string; clientId?: string },
  action: string,
): Promise<void> {
  const scopes = ['desk'];
  if (what.asset !== undefined) scopes.push(`asset:${what.asset}`);
  if (what.clientId !== undefined) scopes.push(`client:${what.clientId}`);
  const r = await q.query<{ scope: string; reason: string }>(
    'SELECT scope, reason FROM otc_freezes WHERE scope = ANY($1) ORDER BY scope',
    [scopes],
  );
  const hit = r.rows[0];
  if (hit !== undefined)
    throw new OtcError('frozen', `${action} refused: ${hit.scope} is frozen (${hit.reason})`, undefined, {
      scope: hit.scope,
    });
}

export async function freeze(
  q: Queryable,
  actor: Actor,
  scope: FreezeScope,
  reason: string,
): Promise<Freeze> {
  if (reason.trim() === '' || reason.length > 500) throw invalid('reason', 'must be 1 to 500 characters');
  const r = await q.query<{ scope: string; reason: string; frozen_by: string; frozen_at: Date }>(
    `INSERT INTO otc_freezes (scope, reason, frozen_by) VALUES ($1, $2, $3)
     ON CONFLICT (scope) DO UPDATE SET reason = EXCLUDED.reason
     RETURNING scope, reason, frozen_by, frozen_at`,
    [scope, reason, actor.id],
  );
  await appendAudit(q, { actor, action: 'freeze', subject: scope, detail: { reason } });
  const row = r.rows[0]!;
  return { scope: row.scope, reason: row.reason, frozenBy: row.frozen_by, frozenAt: row.frozen_at };
}

export async function unfreeze(
  q: Queryable,
  actor: Actor,
  scope: FreezeScope,
  reason: string,
): Promise<boolean> {
  if (reason.trim() === '' || reason.length > 500) throw invalid('reason', 'must be 1 to 500 characters');
  const r = await q.query('DELETE FROM otc_freezes WHERE scope = $1', [scope]);
  await appendAudit(q, {
    actor,
    action: 'unfreeze',
    subject: scope,
    detail: { reason, wasFrozen: r.rowCount > 0 },
  });
  return r.rowCount > 0;
}

export async function listFreezes(q: Queryable): Promise<Freeze[]> {
  const r = await q.query<{ scope: string; reason: string; frozen_by: string; frozen_at: Date }>(
    'SELECT scope, reason, frozen_by, frozen_at FROM otc_freezes ORDER BY scope',
  );
  return r.rows.map((row) => ({
    scope: row.scope,
    reason: row.reason,
    frozenBy: row.frozen_by,
    frozenAt: row.frozen_at,
  }));
}
