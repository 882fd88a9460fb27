// Reconciliation: matches the ledger 1:1 against the outside world and lists every item that does not
// match, with the reason. Each crypto delivery against its order's release (the signer node's request and
// transaction hash) and the chain transaction itself; each fiat receipt against its bank evidence, and each
// piece of evidence against a receipt; the hot wallet's ledger balance against the chain's. The chain is
// reached only through an injected lookup, so the report is testable without a chain and the service can
// back it with the signer nodes' request view and an RPC.
import type { Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';
import { checkAsset } from '../ledger/accounts.ts';
import { accountIds, checkLedger, type LedgerCheck } from '../ledger/ledger.ts';
import { fromNumeric } from '../money.ts';

/** What the chain says about a transaction; `undefined` or `found: false` when it has none. */
export type ChainTx = {
  found: boolean;
  to?: string;
  amount?: bigint;
  asset?: string;
  confirmations?: number;
};
export type ChainLookup = (txHash: string) => Promise<ChainTx | undefined> | ChainTx | undefined;

export type ItemKind =
  | 'delivery-without-order'
  | 'delivery-amount-differs-from-order'
  | 'delivery-without-release'
  | 'delivery-without-chain-tx'
  | 'delivery-tx-differs-from-order'
  | 'duplicate-delivery'
  | 'chain-tx-shared'
  | 'chain-lookup-failed'
  | 'chain-tx-not-found'
  | 'chain-tx-unconfirmed'
  | 'chain-asset-mismatch'
  | 'chain-amount-mismatch'
  | 'chain-destination-mismatch'
  | 'completed-without-delivery'
  | 'fiat-without-evidence'
  | 'fiat-amount-mismatch'
  | 'fiat-currency-mismatch'
  | 'fiat-order-mismatch'
  | 'evidence-used-twice'
  | 'evidence-without-ledger-entry'
  | 'hot-wallet-drift';

/** One unmatched or drifting item. Amounts are decimal strings (base or minor units). */
export type ReconciliationItem = {
  kind: ItemKind;
  reason: string;
  orderId?: string;
  transferId?: string;
  evidenceId?: string;
  txHash?: string;
  asset?: string;
  ledgerAmount?: string;
  externalAmount?: string;
};

export type ReconciliationReport = {
  from: string;
  to: string;
  counts: {
    deliveries: number;
    deliveriesMatched: number;
    fiatEntries: number;
    fiatEntriesMatched: number;
    evidence: number;
    evidenceMatched: number;
    hotWallets: number;
    hotWalletsMatched: number;
    items: number;
  };
  items: ReconciliationItem[];
  /** Orders whose delivery matched the chain and that no item names: ready to be marked reconciled. */
  matchedOrderIds: string[];
  ok: boolean;
};

export type ReconcileOptions = {
  from: Date;
  to: Date;
  /** The hot wallets' balances as the chain reports them now, compared with the ledger's posted balance. */
  hotWallets?: { asset: string; onChainBalance: bigint }[];
  /** Confirmations a delivery's transaction needs to count as matched (default 1). */
  minConfirmations?: number;
};

const MAX_WINDOW_MS = 31 * 24 * 3600 * 1000;
/** Rows of one kind in one report; a larger window must be split (the report is built in memory). */
const MAX_ROWS = 50_000;
/** Chain lookups in flight at once. */
const LOOKUP_CONCURRENCY = 8;

function checkOptions(opts: ReconcileOptions): void {
  if (typeof opts !== 'object' || opts === null) throw invalid('options', 'must be an object');
  for (const field of ['from', 'to'] as const)
    if (!(opts[field] instanceof Date) || Number.isNaN(opts[field].getTime()))
      throw invalid(field, 'must be a valid date');
  const span = opts.to.getTime() - opts.from.getTime();
  if (span <= 0) throw invalid('to', 'must be after from');
  if (span > MAX_WINDOW_MS) throw invalid('to', 'the window must be at most 31 days');
  const min = opts.minConfirmations ?? 1;
  if (!Number.isSafeInteger(min) || min < 0)
    throw invalid('minConfirmations', 'must be a non-negative integer');
  for (const [i, w] of (opts.hotWallets ?? []).entries()) {
    checkAsset(w?.asset, `hotWallets[${i}].asset`);
    if (typeof w.onChainBalance !== 'bigint' || w.onChainBalance < 0n)
      throw invalid(`hotWallets[${i}].onChainBalance`, 'must be a non-negative bigint');
  }
}

function bounded<T>(rows: T[], what: string): T[] {
  if (rows.length > MAX_ROWS)
    throw new OtcError('invalid-request', `more than ${MAX_ROWS} ${what} in the window; narrow it`, 'to');
  return rows;
}

/** Runs `fn` over `items` with at most `limit` calls in flight, keeping the order of the results. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Addresses compare case-insensitively on EVM (checksummed or not); exactly elsewhere. */
function sameAddress(a: string, b: string): boolean {
  return /^0x/i.test(a) && /^0x/i.test(b) ? a.toLowerCase() === b.toLowerCase() : a === b;
}

type DeliveryRow = {
  id: string;
  order_id: string | null;
  asset: string;
  amount: string;
  detail_tx: string | null;
  order_found: string | null;
  order_amount: string | null;
  destination: string | null;
  release_request_id: string | null;
  tx_hash: string | null;
  deliveries: string;
  tx_uses: string;
};

async function deliveryRows(q: Queryable, opts: ReconcileOptions): Promise<DeliveryRow[]> {
  const r = await q.query<DeliveryRow>(
    `SELECT t.id, t.order_id, t.asset, t.amount, t.detail->>'txHash' AS detail_tx, o.id AS order_found,
            o.amount AS order_amount, o.destination, o.release_request_id, o.tx_hash,
            (SELECT count(*) FROM otc_transfers x
              WHERE x.order_id = t.order_id AND x.code = 'crypto_delivered') AS deliveries,
            (SELECT count(*) FROM otc_orders y WHERE y.tx_hash = o.tx_hash) AS tx_uses
       FROM otc_transfers t LEFT JOIN otc_orders o ON o.id = t.order_id
      WHERE t.code = 'crypto_delivered' AND t.created_at >= $1 AND t.created_at < $2
      ORDER BY t.created_at, t.id LIMIT ${MAX_ROWS + 1}`,
    [opts.from.toISOString(), opts.to.toISOString()],
  );
  return bounded(r.rows, 'crypto deliveries');
}

/** The ledger and order side of a delivery: everything that can be wrong before asking the chain. */
function deliveryLedgerItems(
  row: DeliveryRow,
  item: (kind: ItemKind, reason: string) => void,
): string | undefined {
  if (row.order_found === null) {
    item('delivery-without-order', `delivery ${row.id} names no known order`);
    return undefined;
  }
  if (fromNumeric(row.deliveries) > 1n)
    item('duplicate-delivery', `order ${row.order_id} has ${row.deliveries} crypto deliveries in the ledger`);
  if (row.order_amount !== null && fromNumeric(row.order_amount) !== fromNumeric(row.amount))
    item(
      'delivery-amount-differs-from-order',
      `delivered ${row.amount}, the order is for ${row.order_amount}`,
    );
  if (row.release_request_id === null)
    item('delivery-without-release', `order ${row.order_id} has no custody release request`);
  if (row.tx_hash === null) {
    item('delivery-without-chain-tx', `order ${row.order_id} has no transaction hash`);
    return undefined;
  }
  if (row.detail_tx !== null && row.detail_tx !== row.tx_hash)
    item('delivery-tx-differs-from-order', `the delivery names ${row.detail_tx}, the order ${row.tx_hash}`);
  if (fromNumeric(row.tx_uses) > 1n)
    item('chain-tx-shared', `transaction ${row.tx_hash} is the release of ${row.tx_uses} orders`);
  return row.tx_hash;
}

/** Checks the lookup's answer field by field: it comes from outside (a node, an RPC). */
function chainAnswerProblem(answer: unknown): string | undefined {
  if (answer === undefined) return undefined;
  if (typeof answer !== 'object' || answer === null) return 'is not an object';
  const a = answer as Record<string, unknown>;
  if (typeof a.found !== 'boolean') return 'found is not a boolean';
  if (!a.found) return undefined;
  if (typeof a.to !== 'string') return 'to is not a string';
  if (typeof a.amount !== 'bigint' || a.amount < 0n) return 'amount is not a non-negative bigint';
  if (typeof a.asset !== 'string') return 'asset is not a string';
  if (!Number.isSafeInteger(a.confirmations) || (a.confirmations as number) < 0)
    return 'confirmations is not a non-negative integer';
  return undefined;
}

async function deliveryChainItems(
  row: DeliveryRow,
  txHash: string,
  lookup: ChainLookup,
  minConfirmations: number,
  item: (kind: ItemKind, reason: string, extra?: Partial<ReconciliationItem>) => void,
): Promise<void> {
  let answer: ChainTx | undefined;
  try {
    answer = await lookup(txHash);
  } catch (e) {
    item(
      'chain-lookup-failed',
      `looking up ${txHash} failed: ${String((e as Error)?.message ?? e).slice(0, 200)}`,
    );
    return;
  }
  const problem = chainAnswerProblem(answer);
  if (problem !== undefined) return item('chain-lookup-failed', `the chain lookup's answer ${problem}`);
  if (answer === undefined || !answer.found)
    return item('chain-tx-not-found', `transaction ${txHash} is not on the chain`);
  const amount = answer.amount as bigint;
  if (answer.asset !== row.asset)
    item('chain-asset-mismatch', `the chain moved ${answer.asset}, the ledger delivered ${row.asset}`);
  if (amount !== fromNumeric(row.amount))
    item('chain-amount-mismatch', `the chain moved ${amount}, the ledger delivered ${row.amount}`, {
      externalAmount: amount.toString(),
    });
  if (row.destination !== null && !sameAddress(answer.to as string, row.destination))
    item(
      'chain-destination-mismatch',
      `the chain paid ${answer.to}, the order's destination is ${row.destination}`,
    );
  if ((answer.confirmations as number) < minConfirmations)
    item('chain-tx-unconfirmed', `${answer.confirmations} confirmations, ${minConfirmations} required`);
}

async function reconcileDeliveries(
  q: Queryable,
  opts: ReconcileOptions,
  lookup: ChainLookup,
): Promise<{ total: number; items: ReconciliationItem[]; matchedOrderIds: string[] }> {
  const rows = await deliveryRows(q, opts);
  const perRow = await mapBounded(rows, LOOKUP_CONCURRENCY, async (row) => {
    const items: ReconciliationItem[] = [];
    const base = {
      transferId: row.id,
      asset: row.asset,
      ledgerAmount: fromNumeric(row.amount).toString(),
      ...(row.order_id !== null ? { orderId: row.order_id } : {}),
      ...(row.tx_hash !== null ? { txHash: row.tx_hash } : {}),
    };
    const item = (kind: ItemKind, reason: string, extra: Partial<ReconciliationItem> = {}) =>
      items.push({ kind, reason, ...base, ...extra });
    const txHash = deliveryLedgerItems(row, item);
    if (txHash !== undefined) await deliveryChainItems(row, txHash, lookup, opts.minConfirmations ?? 1, item);
    return items;
  });
  const matchedOrderIds = rows
    .filter((row, i) => perRow[i]!.length === 0 && row.order_id !== null)
    .map((row) => row.order_id as string);
  return { total: rows.length, items: perRow.flat(), matchedOrderIds };
}

async function completedWithoutDelivery(q: Queryable, opts: ReconcileOptions): Promise<ReconciliationItem[]> {
  const r = await q.query<{ id: string; status: string; asset: string; amount: string }>(
    `SELECT o.id, o.status, o.asset, o.amount FROM otc_orders o
      WHERE o.side = 'buy' AND o.status IN ('completed', 'reconciled')
        AND o.updated_at >= $1 AND o.updated_at < $2
        AND NOT EXISTS (SELECT 1 FROM otc_transfers t WHERE t.order_id = o.id AND t.code = 'crypto_delivered')
      ORDER BY o.id LIMIT ${MAX_ROWS + 1}`,
    [opts.from.toISOString(), opts.to.toISOString()],
  );
  return bounded(r.rows, 'completed orders').map((o) => ({
    kind: 'completed-without-delivery' as const,
    reason: `order ${o.id} is ${o.status} but the ledger has no crypto delivery for it`,
    orderId: o.id,
    asset: o.asset,
    externalAmount: fromNumeric(o.amount).toString(),
  }));
}

type FiatRow = {
  id: string;
  order_id: string | null;
  asset: string;
  amount: string;
  evidence_ref: string | null;
  evidence_id: string | null;
  evidence_amount: string | null;
  evidence_currency: string | null;
  evidence_order: string | null;
  uses: string;
};

function fiatItems(row: FiatRow): ReconciliationItem[] {
  const base = {
    transferId: row.id,
    asset: row.asset,
    ledgerAmount: fromNumeric(row.amount).toString(),
    ...(row.order_id !== null ? { orderId: row.order_id } : {}),
    ...(row.evidence_ref !== null ? { evidenceId: row.evidence_ref } : {}),
  };
  if (row.evidence_id === null)
    return [
      {
        kind: 'fiat-without-evidence',
        reason:
          row.evidence_ref === null
            ? `fiat receipt ${row.id} names no evidence`
            : `fiat receipt ${row.id} names evidence ${row.evidence_ref}, which does not exist`,
        ...base,
      },
    ];
  const items: ReconciliationItem[] = [];
  const evidenceAmount = fromNumeric(row.evidence_amount);
  if (evidenceAmount !== fromNumeric(row.amount))
    items.push({
      kind: 'fiat-amount-mismatch',
      reason: `the ledger received ${row.amount}, the bank evidence says ${evidenceAmount}`,
      ...base,
      externalAmount: evidenceAmount.toString(),
    });
  if (row.evidence_currency !== row.asset)
    items.push({
      kind: 'fiat-currency-mismatch',
      reason: `the ledger received ${row.asset}, the evidence is in ${row.evidence_currency}`,
      ...base,
    });
  if (row.evidence_order !== row.order_id)
    items.push({
      kind: 'fiat-order-mismatch',
      reason: `the evidence belongs to order ${row.evidence_order ?? 'none'}, the receipt to ${row.order_id ?? 'none'}`,
      ...base,
    });
  if (fromNumeric(row.uses) > 1n)
    items.push({
      kind: 'evidence-used-twice',
      reason: `evidence ${row.evidence_id} backs ${row.uses} receipts`,
      ...base,
    });
  return items;
}

async function reconcileFiat(
  q: Queryable,
  opts: ReconcileOptions,
): Promise<{ entries: number; entriesMatched: number; evidence: number; items: ReconciliationItem[] }> {
  const window = [opts.from.toISOString(), opts.to.toISOString()];
  const receipts = await q.query<FiatRow>(
    `SELECT t.id, t.order_id, t.asset, t.amount, t.detail->>'evidenceId' AS evidence_ref, e.id AS evidence_id,
            e.amount_minor AS evidence_amount, e.currency AS evidence_currency, e.order_id AS evidence_order,
            (SELECT count(*) FROM otc_transfers x WHERE x.code = 'fiat_received'
                AND (x.detail->>'evidenceId') = (t.detail->>'evidenceId')) AS uses
       FROM otc_transfers t LEFT JOIN otc_fiat_evidence e ON e.id = t.detail->>'evidenceId'
      WHERE t.code = 'fiat_received' AND t.created_at >= $1 AND t.created_at < $2
      ORDER BY t.created_at, t.id LIMIT ${MAX_ROWS + 1}`,
    window,
  );
  const perReceipt = bounded(receipts.rows, 'fiat receipts').map(fiatItems);
  // Evidence is looked for in the ledger at any time: a receipt posted just past the window still matches.
  const orphans = await q.query<{
    id: string;
    order_id: string | null;
    amount_minor: string;
    currency: string;
  }>(
    `SELECT e.id, e.order_id, e.amount_minor, e.currency FROM otc_fiat_evidence e
      WHERE e.recorded_at >= $1 AND e.recorded_at < $2
        AND NOT EXISTS (SELECT 1 FROM otc_transfers t
                         WHERE t.code = 'fiat_received' AND (t.detail->>'evidenceId') = e.id)
      ORDER BY e.recorded_at, e.id LIMIT ${MAX_ROWS + 1}`,
    window,
  );
  const total = await q.query<{ n: string }>(
    'SELECT count(*) AS n FROM otc_fiat_evidence WHERE recorded_at >= $1 AND recorded_at < $2',
    window,
  );
  const orphanItems = bounded(orphans.rows, 'evidence rows').map(
    (e): ReconciliationItem => ({
      kind: 'evidence-without-ledger-entry',
      reason:
        e.order_id === null
          ? `bank evidence ${e.id} was matched to no order and nothing was posted`
          : `bank evidence ${e.id} of order ${e.order_id} has no fiat receipt in the ledger`,
      evidenceId: e.id,
      asset: e.currency,
      externalAmount: fromNumeric(e.amount_minor).toString(),
      ...(e.order_id !== null ? { orderId: e.order_id } : {}),
    }),
  );
  return {
    entries: perReceipt.length,
    entriesMatched: perReceipt.filter((items) => items.length === 0).length,
    evidence: Number(total.rows[0]?.n ?? 0),
    items: [...perReceipt.flat(), ...orphanItems],
  };
}

/** The hot wallet per the ledger (posted: a reservation has not left the chain yet) against the chain. */
async function reconcileHotWallets(
  q: Queryable,
  wallets: { asset: string; onChainBalance: bigint }[],
): Promise<ReconciliationItem[]> {
  const items: ReconciliationItem[] = [];
  for (const w of wallets) {
    const r = await q.query<{ posted: string; pending: string }>(
      `SELECT credits_posted - debits_posted AS posted, debits_pending AS pending FROM otc_accounts WHERE id = $1`,
      [accountIds.houseHot(w.asset)],
    );
    const posted = r.rows[0] === undefined ? 0n : fromNumeric(r.rows[0].posted);
    const reserved = r.rows[0] === undefined ? 0n : fromNumeric(r.rows[0].pending);
    if (posted !== w.onChainBalance)
      items.push({
        kind: 'hot-wallet-drift',
        reason: `the ledger holds ${posted} (${reserved} of it reserved), the chain ${w.onChainBalance}: drift ${w.onChainBalance - posted}`,
        asset: w.asset,
        ledgerAmount: posted.toString(),
        externalAmount: w.onChainBalance.toString(),
      });
  }
  return items;
}

/** Reconciles the ledger entries made in [from, to) and the evidence recorded then. */
export async function reconcile(
  q: Queryable,
  opts: ReconcileOptions,
  chainLookup: ChainLookup,
): Promise<ReconciliationReport> {
  checkOptions(opts);
  if (typeof chainLookup !== 'function') throw invalid('chainLookup', 'must be a function');
  const deliveries = await reconcileDeliveries(q, opts, chainLookup);
  const completed = await completedWithoutDelivery(q, opts);
  const fiat = await reconcileFiat(q, opts);
  const wallets = opts.hotWallets ?? [];
  const drift = await reconcileHotWallets(q, wallets);
  const items = [...deliveries.items, ...completed, ...fiat.items, ...drift];
  const named = new Set(items.map((i) => i.orderId).filter((id) => id !== undefined));
  const orphanEvidence = fiat.items.filter((i) => i.kind === 'evidence-without-ledger-entry').length;
  return {
    from: opts.from.toISOString(),
    to: opts.to.toISOString(),
    counts: {
      deliveries: deliveries.total,
      deliveriesMatched: deliveries.total - new Set(deliveries.items.map((i) => i.transferId)).size,
      fiatEntries: fiat.entries,
      fiatEntriesMatched: fiat.entriesMatched,
      evidence: fiat.evidence,
      evidenceMatched: fiat.evidence - orphanEvidence,
      hotWallets: wallets.length,
      hotWalletsMatched: wallets.length - drift.length,
      items: items.length,
    },
    items,
    matchedOrderIds: [...new Set(deliveries.matchedOrderIds)].filter((id) => !named.has(id)).sort(),
    ok: items.length === 0,
  };
}

export type DailyReport = {
  day: string;
  reconciliation: ReconciliationReport;
  ledger: LedgerCheck;
  /** The day's transfers per asset, code and kind (amounts as decimal strings). */
  totals: { asset: string; code: string; kind: string; count: number; amount: string }[];
};

/** The daily report for a UTC day (YYYY-MM-DD): reconciliation, ledger invariants and the day's totals. */
export async function dailyReport(
  q: Queryable,
  day: string,
  chainLookup: ChainLookup,
  opts: Omit<ReconcileOptions, 'from' | 'to'> = {},
): Promise<DailyReport> {
  if (typeof day !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(day)) throw invalid('day', 'must be YYYY-MM-DD');
  const from = new Date(`${day}T00:00:00.000Z`);
  if (Number.isNaN(from.getTime()) || from.toISOString().slice(0, 10) !== day)
    throw invalid('day', 'is not a calendar date');
  const to = new Date(from.getTime() + 24 * 3600 * 1000);
  const reconciliation = await reconcile(q, { ...opts, from, to }, chainLookup);
  const ledger = await checkLedger(q);
  const r = await q.query<{ asset: string; code: string; kind: string; count: string; amount: string }>(
    `SELECT asset, code, kind, count(*) AS count, sum(amount) AS amount FROM otc_transfers
      WHERE created_at >= $1 AND created_at < $2 GROUP BY asset, code, kind ORDER BY asset, code, kind`,
    [from.toISOString(), to.toISOString()],
  );
  const totals = r.rows.map((row) => ({
    asset: row.asset,
    code: row.code,
    kind: row.kind,
    count: Number(row.count),
    amount: fromNumeric(row.amount).toString(),
  }));
  return { day, reconciliation, ledger, totals };
}
