// All SQL for orders. Every change of status goes through `applyTransition`: one conditional update on
// (id, status, version), the event row, an outbox row for the webhook and an audit entry — all in the
// caller's transaction, together with the ledger postings the caller makes. A lost race is a
// `stale-version` (409), never a second effect.
import { appendAudit } from '../audit/log.ts';
import type { Actor } from '../config/types.ts';
import type { Queryable } from '../db/database.ts';
import { OtcError } from '../errors.ts';
import { fromNumeric } from '../money.ts';
import { enqueueEvent } from '../outbox/outbox.ts';
import { isPaymentException, type PaymentException } from './exceptions.ts';
import { type BuyEvent, type BuyStatus, isBuyStatus, nextStatus } from './machine.ts';

export type Order = {
  id: string;
  side: 'buy' | 'sell';
  clientId: string;
  quoteId: string;
  asset: string;
  chain: string;
  amount: bigint;
  fiatCurrency: string;
  fiatAmount: bigint;
  priceMinor: bigint;
  destination: string;
  status: BuyStatus;
  exception: PaymentException | null;
  exceptionDetail: Record<string, unknown> | null;
  paymentReference: string;
  paymentDeadline: Date;
  deskApprovalRequired: boolean;
  releaseIdempotencyKey: string | null;
  releaseRequestId: string | null;
  releaseStatus: string | null;
  /** The signer node the release is pinned to (creates go there only). */
  releaseNode: string | null;
  txHash: string | null;
  confirmations: number;
  failureReason: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
};

type OrderRow = Record<string, unknown>;

function toOrder(r: OrderRow): Order {
  const status = r.status;
  if (!isBuyStatus(status)) throw new OtcError('internal', `order ${String(r.id)} has an unknown status`);
  const exception = r.exception === null ? null : r.exception;
  if (exception !== null && !isPaymentException(exception))
    throw new OtcError('internal', `order ${String(r.id)} has an unknown exception`);
  return {
    id: r.id as string,
    side: r.side as 'buy' | 'sell',
    clientId: r.client_id as string,
    quoteId: r.quote_id as string,
    asset: r.asset as string,
    chain: r.chain as string,
    amount: fromNumeric(r.amount),
    fiatCurrency: r.fiat_currency as string,
    fiatAmount: fromNumeric(r.fiat_amount),
    priceMinor: fromNumeric(r.price_minor),
    destination: r.destination as string,
    status,
    exception,
    exceptionDetail: (r.exception_detail as Record<string, unknown> | null) ?? null,
    paymentReference: r.payment_reference as string,
    paymentDeadline: r.payment_deadline as Date,
    deskApprovalRequired: r.desk_approval_required as boolean,
    releaseIdempotencyKey: (r.release_idempotency_key as string | null) ?? null,
    releaseRequestId: (r.release_request_id as string | null) ?? null,
    releaseStatus: (r.release_status as string | null) ?? null,
    releaseNode: (r.release_node as string | null) ?? null,
    txHash: (r.tx_hash as string | null) ?? null,
    confirmations: Number(r.confirmations),
    failureReason: (r.failure_reason as string | null) ?? null,
    version: Number(r.version),
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

export type NewOrder = Omit<
  Order,
  | 'status'
  | 'exception'
  | 'exceptionDetail'
  | 'releaseIdempotencyKey'
  | 'releaseRequestId'
  | 'releaseStatus'
  | 'releaseNode'
  | 'txHash'
  | 'confirmations'
  | 'failureReason'
  | 'version'
  | 'createdAt'
  | 'updatedAt'
>;

export async function insertOrder(q: Queryable, o: NewOrder, actor: Actor): Promise<Order> {
  const r = await q.query(
    `INSERT INTO otc_orders (id, side, client_id, quote_id, asset, chain, amount, fiat_currency, fiat_amount,
       price_minor, destination, status, payment_reference, payment_deadline, desk_approval_required)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,'quoted',$12,$13,$14) RETURNING *`,
    [
      o.id,
      o.side,
      o.clientId,
      o.quoteId,
      o.asset,
      o.chain,
      o.amount.toString(),
      o.fiatCurrency,
      o.fiatAmount.toString(),
      o.priceMinor.toString(),
      o.destination,
      o.paymentReference,
      o.paymentDeadline,
      o.deskApprovalRequired,
    ],
  );
  const order = toOrder(r.rows[0]!);
  await q.query(
    `INSERT INTO otc_order_events (order_id, event, from_status, to_status, actor, role, detail)
     VALUES ($1, 'create', 'quoted', 'quoted', $2, $3, $4)`,
    [order.id, actor.id, actor.role, { quoteId: o.quoteId }],
  );
  await enqueueEvent(q, { type: 'order.created', orderId: order.id, data: orderEventData(order) });
  await appendAudit(q, { actor, action: 'order.create', subject: order.id, detail: { quoteId: o.quoteId } });
  return order;
}

/** The order, optionally locked for the rest of the transaction. `not-found` when absent. */
export async function loadOrder(
  q: Queryable,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<Order> {
  const r = await q.query(`SELECT * FROM otc_orders WHERE id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`, [
    id,
  ]);
  const row = r.rows[0];
  if (row === undefined) throw new OtcError('not-found', `no order ${id}`, 'orderId');
  return toOrder(row);
}

export async function orderByPaymentReference(q: Queryable, reference: string): Promise<Order | undefined> {
  const r = await q.query('SELECT * FROM otc_orders WHERE payment_reference = $1', [reference]);
  return r.rows[0] === undefined ? undefined : toOrder(r.rows[0]);
}

/**
 * Orders in `statuses` that the worker has something to do for, oldest change first: with `dueBy`,
 * only those whose payment window ended by then (claimed ones without an open exception); with
 * `autoReleasable`, only those needing no desk approval; with `withTx`, only those with a transaction;
 * with `unscreenedBefore`, only those left without a screening decision since then (a crash between the
 * order's creation and its screening).
 * Filtering here keeps orders that wait on people from filling the batch (no starvation).
 */
export async function ordersInStatus(
  q: Queryable,
  statuses: readonly BuyStatus[],
  opts: {
    limit?: number;
    dueBy?: Date;
    autoReleasable?: boolean;
    withTx?: boolean;
    unscreenedBefore?: Date;
  } = {},
): Promise<Order[]> {
  const where = ['status = ANY($1)'];
  const params: unknown[] = [statuses];
  if (opts.dueBy !== undefined)
    where.push(
      `payment_deadline <= $${params.push(opts.dueBy)} AND (status <> 'payment_claimed' OR exception IS NULL)`,
    );
  if (opts.autoReleasable) where.push('desk_approval_required = false');
  if (opts.withTx) where.push('tx_hash IS NOT NULL');
  if (opts.unscreenedBefore !== undefined)
    where.push(`updated_at <= $${params.push(opts.unscreenedBefore)} AND NOT EXISTS (SELECT 1 FROM otc_compliance_decisions d
      WHERE d.order_id = otc_orders.id AND d.check_name IN ('destination-screening', 'compliance-review'))`);
  const r = await q.query(
    `SELECT * FROM otc_orders WHERE ${where.join(' AND ')} ORDER BY updated_at LIMIT $${params.push(opts.limit ?? 100)}`,
    params,
  );
  return r.rows.map(toOrder);
}

export type OrderFilter = { clientId?: string; status?: BuyStatus; limit?: number };

export async function listOrders(q: Queryable, f: OrderFilter): Promise<Order[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.clientId !== undefined) where.push(`client_id = $${params.push(f.clientId)}`);
  if (f.status !== undefined) where.push(`status = $${params.push(f.status)}`);
  const r = await q.query(
    `SELECT * FROM otc_orders ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY created_at DESC, id LIMIT $${params.push(f.limit ?? 100)}`,
    params,
  );
  return r.rows.map(toOrder);
}

/** Columns a transition may set besides status and version. */
export type OrderPatch = Partial<{
  exception: PaymentException | null;
  exceptionDetail: Record<string, unknown> | null;
  releaseIdempotencyKey: string;
  releaseRequestId: string | null;
  releaseStatus: string | null;
  releaseNode: string | null;
  txHash: string | null;
  confirmations: number;
  failureReason: string | null;
  amount: bigint;
  fiatAmount: bigint;
  priceMinor: bigint;
  quoteId: string;
  deskApprovalRequired: boolean;
}>;

const COLUMNS: Record<keyof OrderPatch, string> = {
  exception: 'exception',
  exceptionDetail: 'exception_detail',
  releaseIdempotencyKey: 'release_idempotency_key',
  releaseRequestId: 'release_request_id',
  releaseStatus: 'release_status',
  releaseNode: 'release_node',
  txHash: 'tx_hash',
  confirmations: 'confirmations',
  failureReason: 'failure_reason',
  amount: 'amount',
  fiatAmount: 'fiat_amount',
  priceMinor: 'price_minor',
  quoteId: 'quote_id',
  deskApprovalRequired: 'desk_approval_required',
};

/**
 * Writes `patch` (and `status` when given) if the order is still at `order.version` and `order.status`;
 * returns the updated order, or throws `stale-version` when another change won.
 */
async function conditionalUpdate(
  q: Queryable,
  order: Order,
  patch: OrderPatch,
  status?: BuyStatus,
): Promise<Order> {
  const sets: string[] = ['version = version + 1', 'updated_at = now()'];
  const params: unknown[] = [order.id, order.status, order.version];
  if (status !== undefined) sets.push(`status = $${params.push(status)}`);
  for (const [key, value] of Object.entries(patch) as [keyof OrderPatch, unknown][]) {
    if (value === undefined) continue;
    sets.push(`${COLUMNS[key]} = $${params.push(typeof value === 'bigint' ? value.toString() : value)}`);
  }
  const r = await q.query(
    `UPDATE otc_orders SET ${sets.join(', ')} WHERE id = $1 AND status = $2 AND version = $3 RETURNING *`,
    params,
  );
  const row = r.rows[0];
  if (row === undefined)
    throw new OtcError(
      'stale-version',
      `order ${order.id} changed while this action ran; reload it and try again`,
      'version',
    );
  return toOrder(row);
}

/** One state change: table lookup, conditional update, event row, outbox row, audit entry. */
export async function applyTransition(
  q: Queryable,
  order: Order,
  event: BuyEvent,
  actor: Actor,
  opts: { patch?: OrderPatch; detail?: Record<string, unknown> } = {},
): Promise<Order> {
  const to = nextStatus(order.status, event, actor.role);
  const updated = await conditionalUpdate(q, order, opts.patch ?? {}, to);
  await q.query(
    `INSERT INTO otc_order_events (order_id, event, from_status, to_status, actor, role, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [order.id, event, order.status, to, actor.id, actor.role, opts.detail ?? {}],
  );
  await enqueueEvent(q, { type: `order.${to}`, orderId: order.id, data: orderEventData(updated) });
  await appendAudit(q, {
    actor,
    action: `order.${event}`,
    subject: order.id,
    detail: { from: order.status, to, ...(opts.detail ?? {}) },
  });
  return updated;
}

/** A change that is not a status change (exception flag, release progress), still versioned and audited. */
export async function updateOrder(
  q: Queryable,
  order: Order,
  actor: Actor,
  action: string,
  patch: OrderPatch,
  detail: Record<string, unknown> = {},
  opts: { webhook?: string } = {},
): Promise<Order> {
  const updated = await conditionalUpdate(q, order, patch);
  await q.query(
    `INSERT INTO otc_order_events (order_id, event, from_status, to_status, actor, role, detail)
     VALUES ($1, $2, $3, $3, $4, $5, $6)`,
    [order.id, action, order.status, actor.id, actor.role, detail],
  );
  if (opts.webhook !== undefined)
    await enqueueEvent(q, { type: opts.webhook, orderId: order.id, data: orderEventData(updated) });
  await appendAudit(q, { actor, action: `order.${action}`, subject: order.id, detail });
  return updated;
}

export type OrderEvent = {
  id: string;
  event: string;
  fromStatus: string;
  toStatus: string;
  actor: string;
  role: string;
  detail: Record<string, unknown>;
  at: Date;
};

export async function orderEvents(q: Queryable, orderId: string): Promise<OrderEvent[]> {
  const r = await q.query<Record<string, unknown>>(
    'SELECT * FROM otc_order_events WHERE order_id = $1 ORDER BY id',
    [orderId],
  );
  return r.rows.map((e) => ({
    id: String(e.id),
    event: e.event as string,
    fromStatus: e.from_status as string,
    toStatus: e.to_status as string,
    actor: e.actor as string,
    role: e.role as string,
    detail: e.detail as Record<string, unknown>,
    at: e.at as Date,
  }));
}

/** The order as the API and webhooks show it: amounts as decimal strings. */
export function orderView(o: Order): Record<string, unknown> {
  return {
    id: o.id,
    side: o.side,
    clientId: o.clientId,
    quoteId: o.quoteId,
    asset: o.asset,
    chain: o.chain,
    amount: o.amount.toString(),
    fiatCurrency: o.fiatCurrency,
    fiatAmount: o.fiatAmount.toString(),
    priceMinor: o.priceMinor.toString(),
    destination: o.destination,
    status: o.status,
    exception: o.exception,
    exceptionDetail: o.exceptionDetail,
    paymentReference: o.paymentReference,
    paymentDeadline: o.paymentDeadline.toISOString(),
    deskApprovalRequired: o.deskApprovalRequired,
    release: {
      idempotencyKey: o.releaseIdempotencyKey,
      requestId: o.releaseRequestId,
      nodeStatus: o.releaseStatus,
      node: o.releaseNode,
      txHash: o.txHash,
      confirmations: o.confirmations,
      failureReason: o.failureReason,
    },
    version: o.version,
    createdAt: o.createdAt.toISOString(),
    updatedAt: o.updatedAt.toISOString(),
  };
}

function orderEventData(o: Order): Record<string, unknown> {
  return { order: orderView(o) };
}
