// Ledger transfers (TigerBeetle's model): a posted transfer moves an amount from a debit account to a
// credit account of the same asset; a pending transfer (a hold) reserves it, and is resolved exactly once
// by a post_pending or void_pending transfer naming it. Each function writes the transfer row and both
// balances together, with the two accounts locked in sorted id order (no deadlock between two transfers
// over the same accounts). Pass the caller's transaction handle so the postings commit with the state
// change that caused them; given a Database, a function opens its own transaction.
import type { Database, Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';
import { fromNumeric } from '../money.ts';
import { checkAsset, checkLedgerId, isOverdraftViolation } from './accounts.ts';

export type TransferKind = 'posted' | 'pending' | 'post_pending' | 'void_pending';

export type Transfer = {
  id: string;
  debitAccount: string;
  creditAccount: string;
  asset: string;
  amount: bigint;
  kind: TransferKind;
  pendingId: string | null;
  orderId: string | null;
  code: string;
  detail: Record<string, unknown>;
  createdAt: Date;
};

export type TransferInput = {
  id: string;
  debit: string;
  credit: string;
  asset: string;
  amount: bigint;
  orderId?: string;
  /** What the transfer is for: inventory_reservation, fiat_received, sale, … */
  code: string;
  detail?: Record<string, unknown>;
};

export type ResolveInput = {
  id: string;
  pendingId: string;
  /** Must equal the pending amount when given (partial posts are not supported). */
  amount?: bigint;
  /** Defaults to the pending transfer's code. */
  code?: string;
  detail?: Record<string, unknown>;
};

export type Balance = {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  /** creditsPosted − debitsPosted − debitsPending: what the account can still send. */
  available: bigint;
};

const CODE = /^[a-z][a-z0-9_]{0,63}$/;
/** numeric(78,0) holds at most 78 digits. */
const MAX_AMOUNT = 10n ** 78n - 1n;
const MAX_DETAIL_BYTES = 8192;

/** Runs `fn` in the caller's transaction, or in a new one when handed the Database itself. */
export async function atomically<T>(q: Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const db = q as Partial<Database>;
  return typeof db.transaction === 'function' ? db.transaction(fn) : fn(q);
}

function checkAmount(value: unknown, field: string): bigint {
  if (typeof value !== 'bigint') throw invalid(field, 'must be a bigint');
  if (value <= 0n) throw invalid(field, 'must be greater than zero');
  if (value > MAX_AMOUNT) throw invalid(field, 'must have at most 78 digits');
  return value;
}

function checkCode(value: unknown, field: string): string {
  if (typeof value !== 'string' || !CODE.test(value))
    throw invalid(field, 'must be a lower-case code such as fiat_received (a-z, 0-9, _)');
  return value;
}

function checkDetail(value: unknown, field: string): string {
  if (value === undefined) return '{}';
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(field, 'must be a plain object');
  let json: string;
  try {
    json = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    throw invalid(field, 'must be serialisable as JSON');
  }
  if (Buffer.byteLength(json) > MAX_DETAIL_BYTES)
    throw invalid(field, `must be at most ${MAX_DETAIL_BYTES} bytes`);
  return json;
}

function checkTransferInput(input: TransferInput): void {
  if (typeof input !== 'object' || input === null) throw invalid('transfer', 'must be an object');
  checkLedgerId(input.id, 'id');
  checkLedgerId(input.debit, 'debit');
  checkLedgerId(input.credit, 'credit');
  if (input.debit === input.credit) throw invalid('credit', 'must differ from the debit account');
  checkAsset(input.asset, 'asset');
  checkAmount(input.amount, 'amount');
  if (input.orderId !== undefined) checkLedgerId(input.orderId, 'orderId');
  checkCode(input.code, 'code');
}

type AccountRow = {
  id: string;
  asset: string;
  no_overdraft: boolean;
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
};

/** Locks both accounts in sorted id order and checks they exist and hold `asset`. */
async function lockAccounts(
  tx: Queryable,
  debit: string,
  credit: string,
  asset: string,
): Promise<{ debit: AccountRow; credit: AccountRow }> {
  const r = await tx.query<AccountRow>(
    `SELECT id, asset, no_overdraft, debits_posted, credits_posted, debits_pending
       FROM otc_accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE`,
    [debit, credit],
  );
  const found = new Map(r.rows.map((row) => [row.id, row]));
  const d = found.get(debit);
  const c = found.get(credit);
  if (d === undefined) throw new OtcError('not-found', `debit account ${debit} does not exist`, 'debit');
  if (c === undefined) throw new OtcError('not-found', `credit account ${credit} does not exist`, 'credit');
  for (const [field, row] of [
    ['debit', d],
    ['credit', c],
  ] as const) {
    if (row.asset !== asset)
      throw invalid('asset', `${asset} does not match ${field} account ${row.id} (${row.asset})`);
  }
  return { debit: d, credit: c };
}

/**
 * Locks every existing account of `ids` in sorted id order. A helper that makes several transfers in one
 * transaction calls it first, so it never holds one account while waiting for another that a concurrent
 * transaction, locking in the same order, already holds (no deadlock between recipe steps).
 */
export async function lockAccountsInOrder(tx: Queryable, ids: string[]): Promise<void> {
  for (const [i, id] of ids.entries()) checkLedgerId(id, `accounts[${i}]`);
  await tx.query('SELECT id FROM otc_accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [
    [...new Set(ids)].sort(),
  ]);
}

function insufficient(account: string, needed: bigint, available: bigint): OtcError {
  const code = account.startsWith('house:hot:') ? 'insufficient-inventory' : 'insufficient-balance';
  return new OtcError(code, `account ${account} has ${available} available, ${needed} needed`, 'amount', {
    account,
  });
}

/** Refuses, before writing, a debit the no_overdraft rule forbids (the CHECK constraint is the backstop). */
function checkOverdraft(row: AccountRow, amount: bigint): void {
  if (!row.no_overdraft) return;
  const available =
    fromNumeric(row.credits_posted) - fromNumeric(row.debits_posted) - fromNumeric(row.debits_pending);
  if (available < amount) throw insufficient(row.id, amount, available < 0n ? 0n : available);
}

type Deltas = { debitsPosted: bigint; debitsPending: bigint; creditsPosted: bigint; creditsPending: bigint };

async function applyBalances(tx: Queryable, debit: string, credit: string, deltas: Deltas): Promise<void> {
  try {
    const r = await tx.query(
      `UPDATE otc_accounts SET
         debits_posted   = debits_posted   + CASE WHEN id = $1 THEN $3::numeric ELSE 0 END,
         debits_pending  = debits_pending  + CASE WHEN id = $1 THEN $4::numeric ELSE 0 END,
         credits_posted  = credits_posted  + CASE WHEN id = $2 THEN $5::numeric ELSE 0 END,
         credits_pending = credits_pending + CASE WHEN id = $2 THEN $6::numeric ELSE 0 END
       WHERE id IN ($1, $2)`,
      [
        debit,
        credit,
        deltas.debitsPosted.toString(),
        deltas.debitsPending.toString(),
        deltas.creditsPosted.toString(),
        deltas.creditsPending.toString(),
      ],
    );
    if (r.rowCount !== 2)
      throw new OtcError('internal', `balance update touched ${r.rowCount} accounts, not 2`);
  } catch (e) {
    if (isOverdraftViolation(e)) {
      const code = debit.startsWith('house:hot:') ? 'insufficient-inventory' : 'insufficient-balance';
      throw new OtcError(
        code,
        `account ${debit} cannot cover the debit (the database refused the overdraft)`,
        'amount',
        {
          account: debit,
        },
      );
    }
    throw e;
  }
}

type TransferRow = {
  id: string;
  debit_account: string;
  credit_account: string;
  asset: string;
  amount: string;
  kind: TransferKind;
  pending_id: string | null;
  order_id: string | null;
  code: string;
  detail: Record<string, unknown>;
  created_at: Date | string;
};

export function toTransfer(row: TransferRow): Transfer {
  return {
    id: row.id,
    debitAccount: row.debit_account,
    creditAccount: row.credit_account,
    asset: row.asset,
    amount: fromNumeric(row.amount),
    kind: row.kind,
    pendingId: row.pending_id,
    orderId: row.order_id,
    code: row.code,
    detail: row.detail ?? {},
    createdAt: new Date(row.created_at),
  };
}

const TRANSFER_COLUMNS =
  'id, debit_account, credit_account, asset, amount, kind, pending_id, order_id, code, detail, created_at';

/**
 * Inserts the transfer row unless its id (or, for a resolution, its pending id) is taken. ON CONFLICT DO
 * NOTHING rather than a unique violation: the caller gets a clear conflict and its transaction stays usable.
 */
async function insertTransfer(
  tx: Queryable,
  t: Omit<Transfer, 'createdAt' | 'detail'>,
  detailJson: string,
): Promise<Transfer> {
  const r = await tx.query<TransferRow>(
    `INSERT INTO otc_transfers (id, debit_account, credit_account, asset, amount, kind, pending_id, order_id, code, detail)
     VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, $8, $9, $10::jsonb)
     ON CONFLICT DO NOTHING RETURNING ${TRANSFER_COLUMNS}`,
    [
      t.id,
      t.debitAccount,
      t.creditAccount,
      t.asset,
      t.amount.toString(),
      t.kind,
      t.pendingId,
      t.orderId,
      t.code,
      detailJson,
    ],
  );
  const row = r.rows[0];
  if (row !== undefined) return toTransfer(row);
  const existing = await findTransfer(tx, t.id);
  if (existing !== undefined)
    throw new OtcError(
      'conflict',
      `transfer ${t.id} already exists (${existing.kind}, ${existing.code})`,
      'id',
    );
  if (t.pendingId !== null) throw await alreadyResolved(tx, t.pendingId);
  throw new OtcError('internal', `transfer ${t.id} was not inserted`);
}

async function createTransfer(
  q: Queryable,
  input: TransferInput,
  kind: 'posted' | 'pending',
): Promise<Transfer> {
  checkTransferInput(input);
  const detail = checkDetail(input.detail, 'detail');
  return atomically(q, async (tx) => {
    const accounts = await lockAccounts(tx, input.debit, input.credit, input.asset);
    checkOverdraft(accounts.debit, input.amount);
    const transfer = await insertTransfer(
      tx,
      {
        id: input.id,
        debitAccount: input.debit,
        creditAccount: input.credit,
        asset: input.asset,
        amount: input.amount,
        kind,
        pendingId: null,
        orderId: input.orderId ?? null,
        code: input.code,
      },
      detail,
    );
    const a = input.amount;
    await applyBalances(
      tx,
      input.debit,
      input.credit,
      kind === 'posted'
        ? { debitsPosted: a, debitsPending: 0n, creditsPosted: a, creditsPending: 0n }
        : { debitsPosted: 0n, debitsPending: a, creditsPosted: 0n, creditsPending: a },
    );
    return transfer;
  });
}

/** A posted transfer: `amount` leaves `debit` and reaches `credit` now. */
export async function post(q: Queryable, input: TransferInput): Promise<Transfer> {
  return createTransfer(q, input, 'posted');
}

/** A pending transfer (a hold): counted against `debit` now, resolved later by postPending or voidPending. */
export async function hold(q: Queryable, input: TransferInput): Promise<Transfer> {
  return createTransfer(q, input, 'pending');
}

export async function findTransfer(q: Queryable, id: string): Promise<Transfer | undefined> {
  const r = await q.query<TransferRow>(`SELECT ${TRANSFER_COLUMNS} FROM otc_transfers WHERE id = $1`, [id]);
  return r.rows[0] === undefined ? undefined : toTransfer(r.rows[0]);
}

/** The transfer that resolved the hold `pendingId`, if any. */
export async function resolutionOf(q: Queryable, pendingId: string): Promise<Transfer | undefined> {
  const r = await q.query<TransferRow>(
    `SELECT ${TRANSFER_COLUMNS} FROM otc_transfers WHERE pending_id = $1`,
    [pendingId],
  );
  return r.rows[0] === undefined ? undefined : toTransfer(r.rows[0]);
}

async function alreadyResolved(q: Queryable, pendingId: string): Promise<OtcError> {
  const by = await resolutionOf(q, pendingId);
  const how = by === undefined ? 'resolved' : by.kind === 'post_pending' ? 'posted' : 'voided';
  return new OtcError(
    'conflict',
    `hold ${pendingId} was already ${how}${by ? ` by transfer ${by.id}` : ''}; a hold resolves once`,
    'pendingId',
    { pendingId, resolvedBy: by?.id ?? null },
  );
}

async function resolve(
  q: Queryable,
  input: ResolveInput,
  kind: 'post_pending' | 'void_pending',
): Promise<Transfer> {
  if (typeof input !== 'object' || input === null) throw invalid('transfer', 'must be an object');
  checkLedgerId(input.id, 'id');
  checkLedgerId(input.pendingId, 'pendingId');
  if (input.amount !== undefined) checkAmount(input.amount, 'amount');
  if (input.code !== undefined) checkCode(input.code, 'code');
  const detail = checkDetail(input.detail, 'detail');
  return atomically(q, async (tx) => {
    const pending = await findTransfer(tx, input.pendingId);
    if (pending === undefined)
      throw new OtcError('not-found', `pending transfer ${input.pendingId} does not exist`, 'pendingId');
    if (pending.kind !== 'pending')
      throw invalid('pendingId', `transfer ${pending.id} is ${pending.kind}, not a pending transfer`);
    if (input.amount !== undefined && input.amount !== pending.amount)
      throw invalid(
        'amount',
        `must equal the pending amount ${pending.amount} (partial posts are not supported)`,
      );
    // The account locks serialise two resolutions of one hold: the second sees the first's row below.
    await lockAccounts(tx, pending.debitAccount, pending.creditAccount, pending.asset);
    if ((await resolutionOf(tx, pending.id)) !== undefined) throw await alreadyResolved(tx, pending.id);
    const transfer = await insertTransfer(
      tx,
      { ...pending, id: input.id, kind, pendingId: pending.id, code: input.code ?? pending.code },
      detail,
    );
    const a = pending.amount;
    await applyBalances(
      tx,
      pending.debitAccount,
      pending.creditAccount,
      kind === 'post_pending'
        ? { debitsPosted: a, debitsPending: -a, creditsPosted: a, creditsPending: -a }
        : { debitsPosted: 0n, debitsPending: -a, creditsPosted: 0n, creditsPending: -a },
    );
    return transfer;
  });
}

/** Posts a hold in full: the reserved amount moves for good. */
export async function postPending(q: Queryable, input: ResolveInput): Promise<Transfer> {
  return resolve(q, input, 'post_pending');
}

/** Voids a hold: the reserved amount is available again to the debit account. */
export async function voidPending(q: Queryable, input: Omit<ResolveInput, 'amount'>): Promise<Transfer> {
  return resolve(q, input, 'void_pending');
}

type BalanceRow = {
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
  credits_pending: string;
};

export async function balance(q: Queryable, accountId: string): Promise<Balance> {
  checkLedgerId(accountId, 'accountId');
  const r = await q.query<BalanceRow>(
    'SELECT debits_posted, credits_posted, debits_pending, credits_pending FROM otc_accounts WHERE id = $1',
    [accountId],
  );
  const row = r.rows[0];
  if (row === undefined) throw new OtcError('not-found', `account ${accountId} does not exist`, 'accountId');
  const b = {
    debitsPosted: fromNumeric(row.debits_posted),
    creditsPosted: fromNumeric(row.credits_posted),
    debitsPending: fromNumeric(row.debits_pending),
    creditsPending: fromNumeric(row.credits_pending),
  };
  return { ...b, available: b.creditsPosted - b.debitsPosted - b.debitsPending };
}

/** Every transfer of an order, oldest first. */
export async function orderTransfers(q: Queryable, orderId: string): Promise<Transfer[]> {
  checkLedgerId(orderId, 'orderId');
  const r = await q.query<TransferRow>(
    `SELECT ${TRANSFER_COLUMNS} FROM otc_transfers WHERE order_id = $1 ORDER BY created_at, id`,
    [orderId],
  );
  return r.rows.map(toTransfer);
}
