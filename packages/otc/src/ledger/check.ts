// The ledger's invariants, checked from the tables themselves (tests run it after every test; operators
// through the reconciliation report). Each problem is a sentence naming the account, transfer or order.
import type { Queryable } from '../db/database.ts';
import { fromNumeric } from '../money.ts';

export type LedgerCheck = { balanced: boolean; problems: string[] };

/** Order statuses after which none of the customer's money may still sit on the order. */
export const FINISHED_ORDER_STATUSES = [
  'completed',
  'reconciled',
  'cancelled',
  'expired',
  'rejected',
] as const;

/** Per asset, every debit has its credit: balances over all accounts sum to zero, posted and pending. */
async function assetSums(q: Queryable): Promise<string[]> {
  const r = await q.query<{ asset: string; posted: string; pending: string }>(
    `SELECT asset, sum(credits_posted - debits_posted) AS posted, sum(credits_pending - debits_pending) AS pending
       FROM otc_accounts GROUP BY asset ORDER BY asset`,
  );
  const problems: string[] = [];
  for (const row of r.rows) {
    if (fromNumeric(row.posted) !== 0n)
      problems.push(`asset ${row.asset}: posted balances of all accounts sum to ${row.posted}, not 0`);
    if (fromNumeric(row.pending) !== 0n)
      problems.push(`asset ${row.asset}: pending balances of all accounts sum to ${row.pending}, not 0`);
  }
  return problems;
}

/**
 * Each account's four balances equal what its transfers add up to (a hold counts as pending until its
 * resolution, a posted resolution as posted): catches a transfer or a balance written outside this module.
 */
async function accountsMatchTransfers(q: Queryable): Promise<string[]> {
  const r = await q.query<Record<string, string>>(
    `WITH live AS (
       SELECT t.*, (t.kind = 'pending' AND NOT EXISTS (
                      SELECT 1 FROM otc_transfers r WHERE r.pending_id = t.id)) AS open_hold
         FROM otc_transfers t),
     effects AS (
       SELECT debit_account AS account,
              CASE WHEN kind IN ('posted', 'post_pending') THEN amount ELSE 0 END AS dp,
              CASE WHEN open_hold THEN amount ELSE 0 END AS dh, 0 AS cp, 0 AS ch FROM live
       UNION ALL
       SELECT credit_account, 0, 0,
              CASE WHEN kind IN ('posted', 'post_pending') THEN amount ELSE 0 END,
              CASE WHEN open_hold THEN amount ELSE 0 END FROM live),
     sums AS (SELECT account, sum(dp) AS dp, sum(dh) AS dh, sum(cp) AS cp, sum(ch) AS ch
                FROM effects GROUP BY account)
     SELECT a.id, a.debits_posted, a.debits_pending, a.credits_posted, a.credits_pending,
            coalesce(s.dp, 0) AS dp, coalesce(s.dh, 0) AS dh, coalesce(s.cp, 0) AS cp, coalesce(s.ch, 0) AS ch
       FROM otc_accounts a LEFT JOIN sums s ON s.account = a.id
      WHERE a.debits_posted <> coalesce(s.dp, 0) OR a.debits_pending <> coalesce(s.dh, 0)
         OR a.credits_posted <> coalesce(s.cp, 0) OR a.credits_pending <> coalesce(s.ch, 0)
      ORDER BY a.id`,
  );
  const problems: string[] = [];
  for (const row of r.rows) {
    const pairs: [string, string, string][] = [
      ['debits_posted', row.debits_posted!, row.dp!],
      ['debits_pending', row.debits_pending!, row.dh!],
      ['credits_posted', row.credits_posted!, row.cp!],
      ['credits_pending', row.credits_pending!, row.ch!],
    ];
    for (const [column, stored, summed] of pairs)
      if (fromNumeric(stored) !== fromNumeric(summed))
        problems.push(`account ${row.id}: ${column} is ${stored} but its transfers add up to ${summed}`);
  }
  return problems;
}

async function transfersMatchAccounts(q: Queryable): Promise<string[]> {
  const r = await q.query<{ id: string; asset: string; debit: string; credit: string }>(
    `SELECT t.id, t.asset, d.asset AS debit, c.asset AS credit FROM otc_transfers t
       JOIN otc_accounts d ON d.id = t.debit_account JOIN otc_accounts c ON c.id = t.credit_account
      WHERE t.asset <> d.asset OR t.asset <> c.asset ORDER BY t.id`,
  );
  return r.rows.map(
    (row) => `transfer ${row.id}: asset ${row.asset} but its accounts hold ${row.debit} and ${row.credit}`,
  );
}

/** A resolution names a hold, copies its accounts and amount, and is the only one for that hold. */
async function resolutions(q: Queryable): Promise<string[]> {
  const r = await q.query<{ id: string; pending_id: string; reason: string }>(
    `SELECT r.id, r.pending_id,
            CASE WHEN p.kind <> 'pending' THEN 'names a ' || p.kind || ' transfer, not a hold'
                 WHEN (SELECT count(*) FROM otc_transfers x WHERE x.pending_id = r.pending_id) > 1
                   THEN 'is one of several resolutions of the hold'
                 ELSE 'differs from the hold in accounts, asset or amount' END AS reason
       FROM otc_transfers r JOIN otc_transfers p ON p.id = r.pending_id
      WHERE p.kind <> 'pending'
         OR r.debit_account <> p.debit_account OR r.credit_account <> p.credit_account
         OR r.asset <> p.asset OR r.amount <> p.amount
         OR (SELECT count(*) FROM otc_transfers x WHERE x.pending_id = r.pending_id) > 1
      ORDER BY r.id`,
  );
  return r.rows.map((row) => `transfer ${row.id} resolving ${row.pending_id}: ${row.reason}`);
}

async function overdrafts(q: Queryable): Promise<string[]> {
  const r = await q.query<{ id: string; available: string }>(
    `SELECT id, credits_posted - debits_posted - debits_pending AS available FROM otc_accounts
      WHERE no_overdraft AND credits_posted < debits_posted + debits_pending ORDER BY id`,
  );
  return r.rows.map((row) => `account ${row.id}: no_overdraft but ${row.available} available`);
}

/** An order's transfers touch only its own client's accounts (customer funds are never mixed). */
async function ordersTouchOwnClient(q: Queryable): Promise<string[]> {
  const r = await q.query<{ id: string; order_id: string; account: string }>(
    `SELECT t.id, t.order_id, a.id AS account FROM otc_transfers t
       JOIN otc_orders o ON o.id = t.order_id
       JOIN otc_accounts a ON a.id IN (t.debit_account, t.credit_account)
      WHERE a.owner_kind = 'client' AND a.owner_id IS DISTINCT FROM o.client_id ORDER BY t.id`,
  );
  return r.rows.map(
    (row) => `transfer ${row.id} of order ${row.order_id} touches ${row.account}, another client's account`,
  );
}

/**
 * A finished order (without an open payment exception) leaves nothing behind: its holds are resolved and
 * its transfers net the client's accounts to zero per asset — delivered what was bought, refunded the rest.
 */
async function finishedOrdersNetZero(q: Queryable): Promise<string[]> {
  const finished = [...FINISHED_ORDER_STATUSES];
  const holds = await q.query<{ id: string; order_id: string; status: string }>(
    `SELECT t.id, t.order_id, o.status FROM otc_transfers t JOIN otc_orders o ON o.id = t.order_id
      WHERE t.kind = 'pending' AND o.status = ANY($1::text[]) AND o.exception IS NULL
        AND NOT EXISTS (SELECT 1 FROM otc_transfers r WHERE r.pending_id = t.id) ORDER BY t.id`,
    [finished],
  );
  const nets = await q.query<{ order_id: string; status: string; account: string; net: string }>(
    `WITH fx AS (
       SELECT order_id, credit_account AS account, amount AS delta FROM otc_transfers
        WHERE kind IN ('posted', 'post_pending') AND order_id IS NOT NULL
       UNION ALL
       SELECT order_id, debit_account, -amount FROM otc_transfers
        WHERE kind IN ('posted', 'post_pending') AND order_id IS NOT NULL)
     SELECT fx.order_id, o.status, fx.account, sum(fx.delta) AS net FROM fx
       JOIN otc_orders o ON o.id = fx.order_id JOIN otc_accounts a ON a.id = fx.account
      WHERE a.owner_kind = 'client' AND o.status = ANY($1::text[]) AND o.exception IS NULL
      GROUP BY fx.order_id, o.status, fx.account HAVING sum(fx.delta) <> 0
      ORDER BY fx.order_id, fx.account`,
    [finished],
  );
  return [
    ...holds.rows.map((row) => `order ${row.order_id} is ${row.status} but hold ${row.id} is still pending`),
    ...nets.rows.map(
      (row) =>
        `order ${row.order_id} is ${row.status} but leaves ${row.net} on ${row.account} (should net to 0)`,
    ),
  ];
}

/** Checks every invariant of the ledger; `balanced` is true when there is no problem. */
export async function checkLedger(q: Queryable): Promise<LedgerCheck> {
  const problems = [
    ...(await assetSums(q)),
    ...(await accountsMatchTransfers(q)),
    ...(await transfersMatchAccounts(q)),
    ...(await resolutions(q)),
    ...(await overdrafts(q)),
    ...(await ordersTouchOwnClient(q)),
    ...(await finishedOrdersNetZero(q)),
  ];
  return { balanced: problems.length === 0, problems };
}
