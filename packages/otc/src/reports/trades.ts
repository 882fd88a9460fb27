// Trade reports for compliance and accounting: the desk's orders filtered by client, asset, fiat currency
// and time, as JSON-ready rows (amounts as decimal strings of base or minor units) or as CSV (RFC 4180,
// with cells a spreadsheet would run as a formula neutralised).
import type { Queryable } from '../db/database.ts';
import { invalid } from '../errors.ts';
import { checkAsset, checkLedgerId } from '../ledger/accounts.ts';
import { fromNumeric } from '../money.ts';

export type TradeFilter = {
  clientId?: string;
  asset?: string;
  fiatCurrency?: string;
  side?: 'buy' | 'sell';
  /** Orders created at or after `from` and before `to`. */
  from?: Date;
  to?: Date;
  /** Default 1000, at most 10 000; oldest first. */
  limit?: number;
  /** Every status; by default only settled trades (completed and reconciled). */
  allStatuses?: boolean;
};

export type TradeRow = {
  orderId: string;
  createdAt: string;
  updatedAt: string;
  clientId: string;
  side: string;
  status: string;
  exception: string | null;
  asset: string;
  chain: string;
  amountBaseUnits: string;
  fiatCurrency: string;
  fiatAmountMinor: string;
  priceMinor: string;
  destination: string;
  paymentReference: string;
  releaseRequestId: string | null;
  txHash: string | null;
  confirmations: number;
};

export const SETTLED_STATUSES = ['completed', 'reconciled'] as const;
const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 10_000;

function checkDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(field, 'must be a valid date');
  return value;
}

/** The WHERE clause and its parameters for a validated filter. */
function whereClause(f: TradeFilter): { sql: string; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    conditions.push(sql.replace('?', `$${params.length}`));
  };
  if (f.clientId !== undefined) add('client_id = ?', checkLedgerId(f.clientId, 'clientId'));
  if (f.asset !== undefined) add('asset = ?', checkAsset(f.asset, 'asset'));
  if (f.fiatCurrency !== undefined) {
    if (typeof f.fiatCurrency !== 'string' || !/^[A-Z]{3}$/.test(f.fiatCurrency))
      throw invalid('fiatCurrency', 'must be an ISO 4217 code such as USD');
    add('fiat_currency = ?', f.fiatCurrency);
  }
  if (f.side !== undefined) {
    if (f.side !== 'buy' && f.side !== 'sell') throw invalid('side', 'must be buy or sell');
    add('side = ?', f.side);
  }
  if (f.from !== undefined) add('created_at >= ?', checkDate(f.from, 'from').toISOString());
  if (f.to !== undefined) add('created_at < ?', checkDate(f.to, 'to').toISOString());
  if (f.from !== undefined && f.to !== undefined && f.to <= f.from) throw invalid('to', 'must be after from');
  if (f.allStatuses !== undefined && typeof f.allStatuses !== 'boolean')
    throw invalid('allStatuses', 'must be a boolean');
  if (f.allStatuses !== true)
    conditions.push(`status IN (${SETTLED_STATUSES.map((s) => `'${s}'`).join(', ')})`);
  return { sql: conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`, params };
}

type OrderRow = Record<string, unknown> & {
  created_at: Date | string;
  updated_at: Date | string;
  confirmations: number | string;
};

function toTradeRow(r: OrderRow): TradeRow {
  return {
    orderId: r.id as string,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
    clientId: r.client_id as string,
    side: r.side as string,
    status: r.status as string,
    exception: (r.exception as string | null) ?? null,
    asset: r.asset as string,
    chain: r.chain as string,
    amountBaseUnits: fromNumeric(r.amount).toString(),
    fiatCurrency: r.fiat_currency as string,
    fiatAmountMinor: fromNumeric(r.fiat_amount).toString(),
    priceMinor: fromNumeric(r.price_minor).toString(),
    destination: r.destination as string,
    paymentReference: r.payment_reference as string,
    releaseRequestId: (r.release_request_id as string | null) ?? null,
    txHash: (r.tx_hash as string | null) ?? null,
    confirmations: Number(r.confirmations),
  };
}

/** The orders matching `filter`, oldest first (page by moving `from` past the last row's createdAt). */
export async function tradeReport(q: Queryable, filter: TradeFilter = {}): Promise<TradeRow[]> {
  if (typeof filter !== 'object' || filter === null) throw invalid('filter', 'must be an object');
  const limit = filter.limit ?? DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw invalid('limit', `must be an integer from 1 to ${MAX_LIMIT}`);
  const where = whereClause(filter);
  const r = await q.query<OrderRow>(
    `SELECT id, created_at, updated_at, client_id, side, status, exception, asset, chain, amount, fiat_currency,
            fiat_amount, price_minor, destination, payment_reference, release_request_id, tx_hash, confirmations
       FROM otc_orders ${where.sql} ORDER BY created_at, id LIMIT ${limit}`,
    where.params,
  );
  return r.rows.map(toTradeRow);
}

/** The CSV columns, in order: the header is fixed so a downstream import never shifts. */
export const CSV_COLUMNS: readonly (keyof TradeRow)[] = [
  'orderId',
  'createdAt',
  'updatedAt',
  'clientId',
  'side',
  'status',
  'exception',
  'asset',
  'chain',
  'amountBaseUnits',
  'fiatCurrency',
  'fiatAmountMinor',
  'priceMinor',
  'destination',
  'paymentReference',
  'releaseRequestId',
  'txHash',
  'confirmations',
];

const CSV_HEADER = CSV_COLUMNS.map((c) => c.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`));

/**
 * One CSV cell. A cell a spreadsheet would evaluate (starting with = + - @, a tab or a carriage return)
 * gets a leading apostrophe (OWASP "CSV injection"); a cell with a comma, quote or line break is quoted
 * with its quotes doubled (RFC 4180).
 */
export function csvCell(value: string | number | null): string {
  let s = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The rows as CSV: the fixed header, one line per row, CRLF line ends (RFC 4180). */
export function toCsv(rows: readonly TradeRow[]): string {
  const lines = [
    CSV_HEADER.join(','),
    ...rows.map((row) => CSV_COLUMNS.map((c) => csvCell(row[c])).join(',')),
  ];
  return `${lines.join('\r\n')}\r\n`;
}
