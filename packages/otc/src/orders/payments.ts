// Fiat confirmation: evidence recorded by an ops maker or carried by a verified fiat-rail webhook, the
// checks that turn it into "paid", and the payment exceptions when it disagrees with the order. An
// amount, currency or time that differs from the order never releases anything by itself.
import { randomBytes } from 'node:crypto';
import { getClient } from '../clients/clients.ts';
import { checkPreTrade } from '../compliance/pretrade.ts';
import type { Actor } from '../config/types.ts';
import { type Queryable, sqlState, violatedConstraint } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';
import {
  openReservation,
  recordFiatReceived,
  refundFiat,
  releaseReservation,
  reserveInventory,
} from '../ledger/ledger.ts';
import { consumeQuote } from '../quotes/quotes.ts';
import { receivedFiat, releaseKey } from './buy.ts';
import { type BuyDeskDeps, deskApprovalRequired } from './deps.ts';
import { checkResolution, type PaymentException, type Resolution } from './exceptions.ts';
import { assertNotFrozen } from './freeze.ts';
import { applyTransition, loadOrder, type Order, orderByPaymentReference, updateOrder } from './store.ts';

const SYSTEM: Actor = { id: 'otc-service', role: 'system' };

export type FiatEvidence = {
  paymentReference: string;
  bankReference: string;
  amount: bigint;
  currency: string;
  transferredAt: Date;
  sourceAccountLast4?: string;
};

export type EvidenceOutcome = {
  order: Order;
  evidenceId: string;
  /** paid: confirmed; exception: a payment exception is open; awaiting-confirmation: an ops maker must confirm. */
  outcome: 'paid' | 'exception' | 'awaiting-confirmation';
};

export class Payments {
  constructor(readonly d: BuyDeskDeps) {}

  /**
   * Records fiat evidence against the order its payment reference names, posts the money received and
   * decides: paid (an ops maker's exact evidence, or a low-risk order's webhook), a payment exception, or
   * waiting for an ops maker. Runs inside `tx` (the webhook handler's transaction, or a new one).
   */
  async recordEvidence(
    actor: Actor,
    e: FiatEvidence,
    source: 'manual' | 'webhook',
    tx?: Queryable,
  ): Promise<EvidenceOutcome> {
    if (tx === undefined) return this.d.db.transaction((t) => this.recordEvidence(actor, e, source, t));
    checkTransferTime(e.transferredAt, this.d.now());
    let order = await this.orderForEvidence(tx, e);
    const evidenceId = `fev_${randomBytes(12).toString('hex')}`;
    await insertEvidence(tx, evidenceId, order.id, e, source, actor);
    await recordFiatReceived(tx, {
      orderId: order.id,
      clientId: order.clientId,
      fiat: order.fiatCurrency,
      amount: e.amount,
      evidenceId,
    });
    order = await updateOrder(
      tx,
      order,
      actor,
      'record_evidence',
      {},
      { evidenceId, source, amount: e.amount.toString() },
    );
    // A transfer made after the window of an unclaimed order is late: the rate is no longer held.
    if (order.status === 'awaiting_payment' && e.transferredAt.getTime() > order.paymentDeadline.getTime()) {
      order = await applyTransition(tx, order, 'expire', SYSTEM, {
        detail: { reason: 'payment after the window' },
      });
      if ((await openReservation(tx, order.id)) !== undefined)
        await releaseReservation(tx, { orderId: order.id });
    }
    const received = await receivedFiat(tx, order);
    const exception = paymentException(order, received, e.transferredAt);
    if (exception !== null) {
      order = await flagException(tx, order, exception, {
        received: received.toString(),
        expected: order.fiatAmount.toString(),
        evidenceId,
      });
      return { order, evidenceId, outcome: 'exception' };
    }
    if (order.exception === 'under_payment' || order.exception === 'claimed_not_received')
      order = await updateOrder(
        tx,
        order,
        SYSTEM,
        'exception_cleared',
        { exception: null, exceptionDetail: null },
        { by: 'evidence' },
      );
    // Still with compliance: the money is booked, the confirmation waits for the order to be payable.
    if (!PAYABLE.includes(order.status)) return { order, evidenceId, outcome: 'awaiting-confirmation' };
    const confirmer = source === 'manual' ? actor : (await this.lowRisk(tx, order)) ? SYSTEM : undefined;
    if (confirmer === undefined) return { order, evidenceId, outcome: 'awaiting-confirmation' };
    order = await this.markPaid(tx, order, confirmer, evidenceId);
    return { order, evidenceId, outcome: 'paid' };
  }

  /** The order a payment reference names, locked, not frozen, in the evidence's currency. */
  private async orderForEvidence(tx: Queryable, e: FiatEvidence): Promise<Order> {
    const found = await orderByPaymentReference(tx, e.paymentReference);
    if (found === undefined)
      throw new OtcError(
        'not-found',
        `no order has payment reference ${e.paymentReference}`,
        'paymentReference',
      );
    const order = await loadOrder(tx, found.id, { forUpdate: true });
    await assertNotFrozen(tx, { asset: order.asset, clientId: order.clientId }, 'a payment confirmation');
    if (e.currency !== order.fiatCurrency)
      throw new OtcError(
        'payment-mismatch',
        `the order is paid in ${order.fiatCurrency}, not ${e.currency}`,
        'currency',
      );
    return order;
  }

  /** An ops maker confirms evidence the rail sent for an order that was not low-risk. */
  async confirmPayment(actor: Actor, orderId: string): Promise<Order> {
    return this.d.db.transaction(async (tx) => {
      const order = await loadOrder(tx, orderId, { forUpdate: true });
      await assertNotFrozen(tx, { asset: order.asset, clientId: order.clientId }, 'a payment confirmation');
      if (order.exception !== null)
        throw new OtcError('conflict', `resolve the ${order.exception} exception first`, 'exception');
      const received = await receivedFiat(tx, order);
      if (received !== order.fiatAmount)
        throw new OtcError(
          'payment-mismatch',
          `received ${received} of ${order.fiatAmount} ${order.fiatCurrency} minor units`,
          'amount',
        );
      return this.markPaid(tx, order, actor);
    });
  }

  /** paid, then awaiting release (the release worker or an ops checker takes it from there). */
  private async markPaid(tx: Queryable, order: Order, actor: Actor, evidenceId?: string): Promise<Order> {
    const paid = await applyTransition(tx, order, 'confirm_payment', actor, {
      detail: evidenceId ? { evidenceId } : {},
    });
    return applyTransition(tx, paid, 'request_release', SYSTEM, {
      patch: paid.deskApprovalRequired ? {} : { releaseIdempotencyKey: releaseKey(order.id, 1) },
    });
  }

  /** Low-risk by the desk's rule: small enough, a tier allowed, and a returning client unless first orders are allowed. */
  private async lowRisk(tx: Queryable, order: Order): Promise<boolean> {
    const rule = this.d.config.autoConfirm;
    const max = rule.maxAmount[order.fiatCurrency];
    if (max === undefined || order.fiatAmount > max) return false;
    const client = await getClient(tx, order.clientId);
    if (client === undefined || !rule.tiers.includes(client.kycTier)) return false;
    if (rule.allowFirstOrder) return true;
    const r = await tx.query(
      `SELECT 1 FROM otc_orders WHERE client_id = $1 AND id <> $2 AND status IN ('completed', 'reconciled') LIMIT 1`,
      [order.clientId, order.id],
    );
    return r.rows.length > 0;
  }

  /** An ops maker resolves the open payment exception with the postings the resolution implies. */
  async resolveException(
    actor: Actor,
    orderId: string,
    resolution: Resolution,
    opts: { quoteToken?: string; reason?: string } = {},
  ): Promise<Order> {
    return this.d.db.transaction(async (tx) => {
      let order = await loadOrder(tx, orderId, { forUpdate: true });
      checkResolution(order.exception, resolution, actor.role);
      const exception = order.exception as PaymentException;
      const received = await receivedFiat(tx, order);
      const refund = async (amount: bigint) => {
        if (amount > 0n)
          await refundFiat(tx, {
            orderId,
            clientId: order.clientId,
            fiat: order.fiatCurrency,
            amount,
            reason: `${exception}: ${resolution}`,
          });
      };
      const clear = () =>
        updateOrder(
          tx,
          order,
          actor,
          'exception_resolved',
          { exception: null, exceptionDetail: null },
          { exception, resolution },
          { webhook: 'order.exception_resolved' },
        );
      switch (resolution) {
        case 'refund_and_cancel':
        case 'refund':
        case 'cancel': {
          await refund(received);
          order = await clear();
          if (['quoted', 'compliance_check', 'awaiting_payment', 'payment_claimed'].includes(order.status)) {
            order = await applyTransition(tx, order, 'cancel', actor, {
              detail: { reason: `${exception}: ${resolution}` },
            });
            if ((await openReservation(tx, orderId)) !== undefined) await releaseReservation(tx, { orderId });
          }
          return order;
        }
        case 'await_remainder':
        case 'keep_waiting':
          return clear();
        case 'refund_excess': {
          await assertNotFrozen(
            tx,
            { asset: order.asset, clientId: order.clientId },
            'a payment confirmation',
          );
          await refund(received - expectedHeld(order));
          order = await clear();
          if (order.status === 'awaiting_payment' || order.status === 'payment_claimed')
            order = await this.markPaid(tx, order, actor);
          return order;
        }
        case 'requote':
          return this.requote(tx, actor, order, received, opts.quoteToken);
      }
    });
  }

  /** A late payment re-priced by a new firm quote: the difference is refunded, inventory reserved again. */
  private async requote(
    tx: Queryable,
    actor: Actor,
    order: Order,
    received: bigint,
    token: string | undefined,
  ): Promise<Order> {
    if (token === undefined)
      throw invalid('quoteToken', 'a new firm quote is required to re-quote a late payment');
    if (order.status !== 'expired')
      throw new OtcError('invalid-transition', 'only an expired order is re-quoted', 'status');
    await assertNotFrozen(tx, { asset: order.asset, clientId: order.clientId }, 'a payment confirmation');
    const quote = await consumeQuote(tx, {
      token,
      clientId: order.clientId,
      orderId: order.id,
      now: this.d.now(),
      signingKey: this.d.config.quotes.signingKey,
    });
    if (quote.side !== 'buy' || quote.asset !== order.asset || quote.fiatCurrency !== order.fiatCurrency)
      throw new OtcError(
        'quote-invalid',
        'the new quote must be a buy of the same asset in the same currency',
        'quoteToken',
      );
    if (quote.fiatAmount > received)
      throw new OtcError(
        'payment-mismatch',
        `the new quote costs ${quote.fiatAmount}, more than the ${received} received`,
        'quoteToken',
      );
    await checkPreTrade(tx, this.d, {
      clientId: order.clientId,
      side: 'buy',
      asset: order.asset,
      fiatCurrency: order.fiatCurrency,
      fiatAmount: quote.fiatAmount,
      quoteId: quote.id,
      orderId: order.id,
    });
    if (received > quote.fiatAmount)
      await refundFiat(tx, {
        orderId: order.id,
        clientId: order.clientId,
        fiat: order.fiatCurrency,
        amount: received - quote.fiatAmount,
        reason: 'late payment re-quoted: difference refunded',
      });
    await reserveInventory(tx, {
      orderId: order.id,
      clientId: order.clientId,
      asset: order.asset,
      amount: quote.amount,
      attempt: (await reservationAttempts(tx, order.id)) + 1,
    });
    let updated = await applyTransition(tx, order, 'requote_late_payment', actor, {
      patch: {
        exception: null,
        exceptionDetail: null,
        amount: quote.amount,
        fiatAmount: quote.fiatAmount,
        priceMinor: quote.priceMinor,
        quoteId: quote.id,
        // The new amount decides the desk approval again: a re-quote never skips the checker.
        deskApprovalRequired: deskApprovalRequired(this.d.config, order.fiatCurrency, quote.fiatAmount),
      },
      detail: {
        quoteId: quote.id,
        previousPrice: order.priceMinor.toString(),
        price: quote.priceMinor.toString(),
      },
    });
    updated = await applyTransition(tx, updated, 'request_release', SYSTEM, {
      patch: updated.deskApprovalRequired ? {} : { releaseIdempotencyKey: releaseKey(order.id, 1) },
    });
    return updated;
  }
}

/** Statuses in which a payment can be confirmed. */
const PAYABLE: readonly string[] = ['awaiting_payment', 'payment_claimed'];

/**
 * The exception that money held for `order` (`received`, after the latest evidence transferred at
 * `transferredAt`) raises, or null when it matches. Money for a closed order is late; money beyond the
 * order once it is paid is over-payment (never a second confirmation); a claimed order's window is
 * frozen, but a transfer made after it is still late.
 */
export function paymentException(
  order: Order,
  received: bigint,
  transferredAt: Date,
): PaymentException | null {
  if (['expired', 'cancelled', 'rejected'].includes(order.status)) return 'late_payment';
  if (!['quoted', 'compliance_check', ...PAYABLE].includes(order.status))
    return received > expectedHeld(order) ? 'over_payment' : null;
  if (order.status === 'payment_claimed' && transferredAt.getTime() > order.paymentDeadline.getTime())
    return 'late_payment';
  if (received < order.fiatAmount) return 'under_payment';
  if (received > order.fiatAmount) return 'over_payment';
  return null;
}

/** What the order should hold on the client's fiat account: its amount until the sale is settled. */
function expectedHeld(order: Order): bigint {
  return ['completed', 'reconciled'].includes(order.status) ? 0n : order.fiatAmount;
}

/** Evidence dated in the future (beyond clock skew) or not a real date is refused. */
const TRANSFER_CLOCK_SKEW_MS = 5 * 60_000;
function checkTransferTime(at: Date, now: number): void {
  if (Number.isNaN(at.getTime())) throw invalid('transferredAt', 'is not a valid date');
  if (at.getTime() > now + TRANSFER_CLOCK_SKEW_MS) throw invalid('transferredAt', 'is in the future');
}

async function reservationAttempts(q: Queryable, orderId: string): Promise<number> {
  const r = await q.query<{ n: string }>(
    `SELECT count(*) AS n FROM otc_transfers WHERE order_id = $1 AND code = 'inventory_reservation' AND kind = 'pending'`,
    [orderId],
  );
  return Number(r.rows[0]?.n ?? 0);
}

/** Raises a payment exception on the order (its own event, webhook and audit entry). */
export async function flagException(
  tx: Queryable,
  order: Order,
  exception: PaymentException,
  detail: Record<string, unknown>,
): Promise<Order> {
  return updateOrder(
    tx,
    order,
    SYSTEM,
    'payment_exception',
    { exception, exceptionDetail: detail },
    { exception },
    { webhook: 'order.payment_exception' },
  );
}

async function insertEvidence(
  tx: Queryable,
  id: string,
  orderId: string,
  e: FiatEvidence,
  source: string,
  actor: Actor,
): Promise<void> {
  try {
    await tx.query(
      `INSERT INTO otc_fiat_evidence (id, order_id, source, bank_reference, payment_reference, amount_minor, currency,
         transferred_at, source_account_last4, recorded_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
      [
        id,
        orderId,
        source,
        e.bankReference,
        e.paymentReference,
        e.amount.toString(),
        e.currency,
        e.transferredAt,
        e.sourceAccountLast4 ?? null,
        actor.id,
      ],
    );
  } catch (err) {
    if (sqlState(err) === '23505' && (violatedConstraint(err) ?? '').includes('bank_reference'))
      throw new OtcError(
        'duplicate-bank-reference',
        `bank reference ${e.bankReference} was already recorded`,
        'bankReference',
      );
    throw err;
  }
}
