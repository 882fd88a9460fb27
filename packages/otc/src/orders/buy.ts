// The buy desk: a customer accepts a firm quote, pays fiat against payment instructions, operations
// confirm the money arrived, and the crypto leaves the hot wallet through the signer nodes. Each method
// is one or more transactions, each of them one state change with its ledger postings, outbox row and
// audit entry (store.ts). Calls to the outside (screening, the signer nodes) happen between
// transactions, never inside one.
import { randomBytes } from 'node:crypto';
import { parseEvmAddress } from '@coffer/chains/evm';
import { checkPreTrade, recordDecision, recordRefusal } from '../compliance/pretrade.ts';
import type { Actor, AssetConfig } from '../config/types.ts';
import type { Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';
import { cancelBuy, orderFiatHeld, reserveInventory } from '../ledger/ledger.ts';
import { consumeQuote } from '../quotes/quotes.ts';
import { assertReleasable, assetConfig, type BuyDeskDeps, deskApprovalRequired } from './deps.ts';
import { assertNotFrozen } from './freeze.ts';
import { assertNeverSigned } from './release.ts';
import { applyTransition, insertOrder, loadOrder, type Order, orderEvents } from './store.ts';

const SYSTEM: Actor = { id: 'otc-service', role: 'system' };

export type PaymentInstructions = {
  currency: string;
  amount: string;
  reference: string;
  deadline: string;
  account: { bankName: string; accountName: string; accountNumber: string; bic?: string };
};

export type AcceptQuote = { clientId: string; quoteToken: string; destination: string };

/** A payment reference customers can type: no ambiguous characters (0/O, 1/I/L). */
function newPaymentReference(): string {
  const alphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(10);
  let out = 'CF';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

function parseDestination(asset: AssetConfig, value: string): string {
  if (asset.chain !== 'evm') return value;
  try {
    return parseEvmAddress(value, 'destination');
  } catch (e) {
    throw invalid(
      'destination',
      (e as Error).message.replace(/^.*destination:?\s*/, '') || 'is not an EVM address',
    );
  }
}

export class BuyDesk {
  constructor(readonly d: BuyDeskDeps) {}

  /** Accepts a firm quote: the order exists, the rate is locked and the inventory reserved. */
  async acceptQuote(actor: Actor, r: AcceptQuote): Promise<Order> {
    const orderId = `ord_${randomBytes(12).toString('hex')}`;
    const created = await this.d.db
      .transaction(async (tx) => {
        const quote = await consumeQuote(tx, {
          token: r.quoteToken,
          clientId: r.clientId,
          orderId,
          now: this.d.now(),
          signingKey: this.d.config.quotes.signingKey,
        });
        if (quote.side !== 'buy')
          throw new OtcError('quote-invalid', 'this quote is for a sell order', 'quoteToken');
        const asset = assetConfig(this.d.config, quote.asset);
        assertReleasable(asset);
        const destination = parseDestination(asset, r.destination);
        await assertNotFrozen(tx, { asset: asset.id, clientId: r.clientId }, 'a new order');
        await checkPreTrade(tx, this.d, {
          clientId: r.clientId,
          side: 'buy',
          asset: asset.id,
          fiatCurrency: quote.fiatCurrency,
          fiatAmount: quote.fiatAmount,
          quoteId: quote.id,
          orderId,
        });

        const order = await insertOrder(
          tx,
          {
            id: orderId,
            side: 'buy',
            clientId: r.clientId,
            quoteId: quote.id,
            asset: asset.id,
            chain: asset.chain,
            amount: quote.amount,
            fiatCurrency: quote.fiatCurrency,
            fiatAmount: quote.fiatAmount,
            priceMinor: quote.priceMinor,
            destination,
            paymentReference: newPaymentReference(),
            paymentDeadline: new Date(this.d.now() + this.d.config.payments.windowMs),
            deskApprovalRequired: deskApprovalRequired(this.d.config, quote.fiatCurrency, quote.fiatAmount),
          },
          actor,
        );
        await reserveInventory(tx, { orderId, clientId: r.clientId, asset: asset.id, amount: quote.amount });
        return applyTransition(tx, order, 'submit', SYSTEM);
      })
      .catch(async (e: unknown) => {
        // The refusal's decision row went with the rolled-back transaction: record it again.
        await recordRefusal(this.d.db, { clientId: r.clientId, orderId }, e);
        throw e;
      });
    return this.screen(created);
  }

  /** Destination screening (outside any transaction), then the compliance decision in one. */
  async screen(order: Order): Promise<Order> {
    let outcome: 'pass' | 'fail' | 'review';
    let reason: string;
    try {
      await this.d.screen({
        chain: order.chain,
        address: order.destination,
        clientId: order.clientId,
        orderId: order.id,
      });
      outcome = 'pass';
      reason = 'destination passed screening';
    } catch (e) {
      if (!(e instanceof OtcError)) throw e;
      // Fail closed: an unavailable screen leaves the order with compliance, never lets it through.
      outcome = e.code === 'screening-denied' ? 'fail' : 'review';
      reason = e.message;
    }
    return this.d.db.transaction(async (tx) => {
      const current = await loadOrder(tx, order.id, { forUpdate: true });
      await recordDecision(tx, {
        clientId: order.clientId,
        orderId: order.id,
        check: 'destination-screening',
        outcome,
        reason,
      });
      if (outcome === 'review') return current;
      if (outcome === 'pass')
        return applyTransition(tx, current, 'compliance_pass', SYSTEM, { detail: { reason } });
      const rejected = await applyTransition(tx, current, 'compliance_reject', SYSTEM, {
        detail: { reason },
      });
      await this.unwind(tx, rejected, reason);
      return rejected;
    });
  }

  paymentInstructions(order: Order): PaymentInstructions {
    const fiat = this.d.config.fiat.find((f) => f.code === order.fiatCurrency);
    if (fiat === undefined) throw new OtcError('internal', `no fiat configuration for ${order.fiatCurrency}`);
    return {
      currency: order.fiatCurrency,
      amount: order.fiatAmount.toString(),
      reference: order.paymentReference,
      deadline: order.paymentDeadline.toISOString(),
      account: fiat.account,
    };
  }

  /** The customer (through the backend) says they paid: the payment window is frozen from now on. */
  async claimPayment(actor: Actor, orderId: string, clientId: string): Promise<Order> {
    return this.d.db.transaction(async (tx) => {
      const order = await this.ownOrder(tx, orderId, clientId);
      // A claim freezes the window, so it must come inside it (else it would hold a stale rate open).
      if (order.status === 'awaiting_payment' && order.paymentDeadline.getTime() <= this.d.now())
        throw new OtcError(
          'invalid-transition',
          'the payment window has ended; ask for a new quote',
          'orderId',
        );
      return applyTransition(tx, order, 'claim_payment', actor);
    });
  }

  /** A compliance officer decides an order that screening could not (an unavailable screen). */
  async complianceDecision(actor: Actor, orderId: string, pass: boolean, reason: string): Promise<Order> {
    if (reason.trim() === '') throw invalid('reason', 'must not be empty');
    return this.d.db.transaction(async (tx) => {
      const order = await loadOrder(tx, orderId, { forUpdate: true });
      await recordDecision(tx, {
        clientId: order.clientId,
        orderId,
        check: 'compliance-review',
        outcome: pass ? 'pass' : 'fail',
        reason: `${actor.id}: ${reason}`,
      });
      if (pass) return applyTransition(tx, order, 'compliance_pass', actor, { detail: { reason } });
      const rejected = await applyTransition(tx, order, 'compliance_reject', actor, { detail: { reason } });
      await this.unwind(tx, rejected, reason);
      return rejected;
    });
  }

  /** Cancels an order; the reservation is released and any fiat received is refunded in the ledger. */
  async cancel(actor: Actor, orderId: string, reason: string, clientId?: string): Promise<Order> {
    if (reason.trim() === '' || reason.length > 500) throw invalid('reason', 'must be 1 to 500 characters');
    // A failed release is refunded only once every node shows it never signed (no second payout).
    const before = await loadOrder(this.d.db, orderId);
    if (before.status === 'release_failed') await assertNeverSigned(this.d, before);
    return this.d.db.transaction(async (tx) => {
      const order =
        clientId === undefined
          ? await loadOrder(tx, orderId, { forUpdate: true })
          : await this.ownOrder(tx, orderId, clientId);
      if (order.status === 'release_failed' && order.version !== before.version)
        throw new OtcError(
          'stale-version',
          `order ${orderId} changed while its release was checked`,
          'version',
        );
      const cancelled = await applyTransition(tx, order, 'cancel', actor, { detail: { reason } });
      await this.unwind(tx, cancelled, reason);
      return cancelled;
    });
  }

  /** Releases the reservation (when still held) and refunds what fiat the order holds, in the ledger. */
  async unwind(tx: Queryable, order: Order, reason: string): Promise<void> {
    await cancelBuy(tx, {
      orderId: order.id,
      clientId: order.clientId,
      fiat: order.fiatCurrency,
      reason: reason.slice(0, 200),
    });
  }

  /** Desk approval by an ops checker who is not the ops maker who confirmed the payment (four eyes). */
  async deskApprove(actor: Actor, orderId: string): Promise<Order> {
    return this.d.db.transaction(async (tx) => {
      const order = await loadOrder(tx, orderId, { forUpdate: true });
      const asset = assetConfig(this.d.config, order.asset);
      await assertNotFrozen(tx, { asset: asset.id, clientId: order.clientId }, 'a release');
      const makers = (await orderEvents(tx, orderId))
        .filter((e) => ['confirm_payment', 'request_release', 'record_evidence'].includes(e.event))
        .map((e) => e.actor);
      if (makers.includes(actor.id))
        throw new OtcError(
          'forbidden',
          'the desk approval must come from someone other than the ops maker of this order',
        );
      await tx.query('INSERT INTO otc_desk_approvals (order_id, approver) VALUES ($1, $2)', [
        orderId,
        actor.id,
      ]);
      return applyTransition(tx, order, 'desk_approve', actor, {
        patch: { releaseIdempotencyKey: releaseKey(order.id, 1) },
      });
    });
  }

  private async ownOrder(tx: Queryable, orderId: string, clientId: string): Promise<Order> {
    const order = await loadOrder(tx, orderId, { forUpdate: true });
    // A backend acting for one customer never learns of another's order.
    if (order.clientId !== clientId) throw new OtcError('not-found', `no order ${orderId}`, 'orderId');
    return order;
  }
}

/** The signer-node idempotency key of an order's release: attempt 1 is `otc:<id>:release`. */
export function releaseKey(orderId: string, attempt: number): string {
  return attempt === 1 ? `otc:${orderId}:release` : `otc:${orderId}:release:${attempt}`;
}

/** Fiat the order holds on the client's account (received, less refunds and the sale), minor units. */
export async function receivedFiat(q: Queryable, order: Order): Promise<bigint> {
  return orderFiatHeld(q, { orderId: order.id, clientId: order.clientId, fiat: order.fiatCurrency });
}
