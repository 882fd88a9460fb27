// The OTC desk's double-entry ledger (TigerBeetle's accounts and transfers) and the buy order's postings.
// Other modules import from here. Every function takes the caller's transaction handle, so an order's
// state change, its postings and its outbox row commit together (given the Database, a function opens its
// own transaction).
//
// The buy-order recipe (X the crypto asset, F the fiat currency, C the client, A the crypto amount):
//   order accepted       hold  house:hot:X → client:C:X  A            ord:<id>:reserve   inventory_reservation
//                        (house:hot:X is no_overdraft, so concurrent orders cannot oversell the hot wallet;
//                         its `available` is the hot wallet minus every reservation not yet delivered;
//                         a re-quoted late payment reserves again as ord:<id>:reserve:<attempt>)
//   fiat received        post  external:bank:F → client:C:F  received  ord:<id>:fiat:<evidence id>  fiat_received
//   release confirmed    postPending the open reservation R           R:post
//                        post  client:C:X → external:chain:X  A       ord:<id>:deliver   crypto_delivered
//                        post  client:C:F → house:sales:F  fiat amount ord:<id>:sale     sale
//                        (client:C:F is no_overdraft: an under-paid order cannot be settled)
//   cancelled / expired / rejected before release
//                        voidPending the open reservation R           R:void
//                        post  client:C:F → external:bank:F  what the order still holds
//                                                                     ord:<id>:refund:<n>  fiat_refund
//   over-payment         the excess is refunded the same way (refundOrderFiat after settleBuy)
//   inventory funding    post  external:chain:X → house:hot:X         fund:<reference>   inventory_funding
// After a completed or cancelled order the client's accounts net to zero for that order (checkLedger).
import type { Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';
import { fromNumeric } from '../money.ts';
import {
  accountIds,
  accountSpecs,
  checkAsset,
  checkClientId,
  checkLedgerId,
  ensureAccount,
} from './accounts.ts';
import {
  atomically,
  findTransfer,
  hold,
  lockAccountsInOrder,
  post,
  postPending,
  type Transfer,
  voidPending,
} from './transfers.ts';

export {
  type AccountSpec,
  accountIds,
  accountSpecs,
  ensureAccount,
  type OwnerKind,
} from './accounts.ts';
export { checkLedger, FINISHED_ORDER_STATUSES, type LedgerCheck } from './check.ts';
export {
  atomically,
  type Balance,
  balance,
  findTransfer,
  hold,
  lockAccountsInOrder,
  orderTransfers,
  post,
  postPending,
  type ResolveInput,
  resolutionOf,
  type Transfer,
  type TransferInput,
  type TransferKind,
  voidPending,
} from './transfers.ts';

/** The transfer ids the recipe derives from an order id (stable, so a replay collides instead of doubling). */
export const buyTransferIds = {
  /** Attempt 1 is the order's first reservation; a re-quoted late payment reserves again (attempt 2, …). */
  reserve: (orderId: string, attempt = 1) => `ord:${orderId}:reserve${attempt === 1 ? '' : `:${attempt}`}`,
  reservePost: (reservationId: string) => `${reservationId}:post`,
  reserveVoid: (reservationId: string) => `${reservationId}:void`,
  fiat: (orderId: string, evidenceId: string) => `ord:${orderId}:fiat:${evidenceId}`,
  deliver: (orderId: string) => `ord:${orderId}:deliver`,
  sale: (orderId: string) => `ord:${orderId}:sale`,
  refund: (orderId: string, n: number) => `ord:${orderId}:refund:${n}`,
};

function checkPositive(value: unknown, field: string): bigint {
  if (typeof value !== 'bigint' || value <= 0n) throw invalid(field, 'must be a bigint greater than zero');
  return value;
}

/** Order accepted: reserves `amount` of the hot wallet for the order (refused when the inventory is short). */
export async function reserveInventory(
  q: Queryable,
  input: { orderId: string; clientId: string; asset: string; amount: bigint; attempt?: number },
): Promise<Transfer> {
  checkLedgerId(input.orderId, 'orderId');
  checkClientId(input.clientId, 'clientId');
  checkAsset(input.asset, 'asset');
  checkPositive(input.amount, 'amount');
  const attempt = input.attempt ?? 1;
  if (!Number.isSafeInteger(attempt) || attempt < 1 || attempt > 1000)
    throw invalid('attempt', 'must be an integer from 1 to 1000');
  return atomically(q, async (tx) => {
    // One open reservation per order: a second would hold the inventory twice for one delivery.
    const open = await openReservation(tx, input.orderId);
    if (open !== undefined)
      throw new OtcError(
        'conflict',
        `order ${input.orderId} already holds reservation ${open.id}`,
        'orderId',
      );
    await ensureAccount(tx, accountSpecs.houseHot(input.asset));
    await ensureAccount(tx, accountSpecs.clientAsset(input.clientId, input.asset));
    return hold(tx, {
      id: buyTransferIds.reserve(input.orderId, attempt),
      debit: accountIds.houseHot(input.asset),
      credit: accountIds.clientAsset(input.clientId, input.asset),
      asset: input.asset,
      amount: input.amount,
      orderId: input.orderId,
      code: 'inventory_reservation',
    });
  });
}

/** Fiat received for the order (one posting per evidence row, with the amount actually received). */
export async function recordFiatReceived(
  q: Queryable,
  input: { orderId: string; clientId: string; fiat: string; amount: bigint; evidenceId: string },
): Promise<Transfer> {
  checkLedgerId(input.orderId, 'orderId');
  checkClientId(input.clientId, 'clientId');
  checkAsset(input.fiat, 'fiat');
  checkPositive(input.amount, 'amount');
  checkLedgerId(input.evidenceId, 'evidenceId');
  return atomically(q, async (tx) => {
    await ensureAccount(tx, accountSpecs.externalBank(input.fiat));
    await ensureAccount(tx, accountSpecs.clientAsset(input.clientId, input.fiat));
    return post(tx, {
      id: buyTransferIds.fiat(input.orderId, input.evidenceId),
      debit: accountIds.externalBank(input.fiat),
      credit: accountIds.clientAsset(input.clientId, input.fiat),
      asset: input.fiat,
      amount: input.amount,
      orderId: input.orderId,
      code: 'fiat_received',
      detail: { evidenceId: input.evidenceId },
    });
  });
}

export type SettleBuyInput = {
  orderId: string;
  clientId: string;
  asset: string;
  amount: bigint;
  fiat: string;
  fiatAmount: bigint;
  txHash?: string;
};

/**
 * Release confirmed: the reservation is posted, the crypto leaves for the chain and the order's fiat
 * amount becomes the desk's sale. Refused whole when the client's fiat does not cover the sale.
 */
export async function settleBuy(
  q: Queryable,
  input: SettleBuyInput,
): Promise<{ reservation: Transfer; delivery: Transfer; sale: Transfer }> {
  checkLedgerId(input.orderId, 'orderId');
  checkClientId(input.clientId, 'clientId');
  checkAsset(input.asset, 'asset');
  checkPositive(input.amount, 'amount');
  checkAsset(input.fiat, 'fiat');
  checkPositive(input.fiatAmount, 'fiatAmount');
  if (input.txHash !== undefined) checkLedgerId(input.txHash, 'txHash');
  const { orderId } = input;
  return atomically(q, async (tx) => {
    await ensureAccount(tx, accountSpecs.externalChain(input.asset));
    await ensureAccount(tx, accountSpecs.houseSales(input.fiat));
    await lockAccountsInOrder(tx, [
      accountIds.houseHot(input.asset),
      accountIds.clientAsset(input.clientId, input.asset),
      accountIds.externalChain(input.asset),
      accountIds.clientAsset(input.clientId, input.fiat),
      accountIds.houseSales(input.fiat),
    ]);
    const held = await requireOpenReservation(tx, orderId);
    if (held.creditAccount !== accountIds.clientAsset(input.clientId, input.asset))
      throw invalid('clientId', `the reservation of order ${orderId} credits ${held.creditAccount}`);
    const reservation = await postPending(tx, {
      id: buyTransferIds.reservePost(held.id),
      pendingId: held.id,
      amount: input.amount,
    });
    const delivery = await post(tx, {
      id: buyTransferIds.deliver(orderId),
      debit: accountIds.clientAsset(input.clientId, input.asset),
      credit: accountIds.externalChain(input.asset),
      asset: input.asset,
      amount: input.amount,
      orderId,
      code: 'crypto_delivered',
      detail: input.txHash === undefined ? {} : { txHash: input.txHash },
    });
    const sale = await post(tx, {
      id: buyTransferIds.sale(orderId),
      debit: accountIds.clientAsset(input.clientId, input.fiat),
      credit: accountIds.houseSales(input.fiat),
      asset: input.fiat,
      amount: input.fiatAmount,
      orderId,
      code: 'sale',
    });
    return { reservation, delivery, sale };
  });
}

/** Cancelled, expired or rejected before release: the reserved inventory is available again. */
export async function releaseReservation(q: Queryable, input: { orderId: string }): Promise<Transfer> {
  checkLedgerId(input.orderId, 'orderId');
  return atomically(q, async (tx) => {
    const held = await requireOpenReservation(tx, input.orderId);
    return voidPending(tx, { id: buyTransferIds.reserveVoid(held.id), pendingId: held.id });
  });
}

/** The order's inventory reservation that is neither posted nor voided yet, if any. */
export async function openReservation(q: Queryable, orderId: string): Promise<Transfer | undefined> {
  checkLedgerId(orderId, 'orderId');
  const r = await q.query<{ id: string }>(
    `SELECT t.id FROM otc_transfers t
      WHERE t.order_id = $1 AND t.kind = 'pending' AND t.code = 'inventory_reservation'
        AND NOT EXISTS (SELECT 1 FROM otc_transfers x WHERE x.pending_id = t.id)
      ORDER BY t.created_at DESC, t.id DESC LIMIT 1`,
    [orderId],
  );
  return r.rows[0] === undefined ? undefined : findTransfer(q, r.rows[0].id);
}

/** The open reservation, or a clear refusal saying whether it was released, voided or never made. */
async function requireOpenReservation(q: Queryable, orderId: string): Promise<Transfer> {
  const open = await openReservation(q, orderId);
  if (open !== undefined) return open;
  const last = await q.query<{ id: string; kind: string }>(
    `SELECT r.id, r.kind FROM otc_transfers t JOIN otc_transfers r ON r.pending_id = t.id
      WHERE t.order_id = $1 AND t.code = 'inventory_reservation' ORDER BY r.created_at DESC, r.id DESC LIMIT 1`,
    [orderId],
  );
  const resolved = last.rows[0];
  if (resolved === undefined)
    throw new OtcError('not-found', `order ${orderId} has no inventory reservation`, 'orderId');
  const how = resolved.kind === 'post_pending' ? 'posted' : 'voided';
  throw new OtcError(
    'conflict',
    `the reservation of order ${orderId} was already ${how} by ${resolved.id}; a hold resolves once`,
    'orderId',
  );
}

/** What the order's transfers left on the client's fiat account (received − sold − refunded). */
export async function orderFiatHeld(
  q: Queryable,
  input: { orderId: string; clientId: string; fiat: string },
): Promise<bigint> {
  checkLedgerId(input.orderId, 'orderId');
  const account = accountIds.clientAsset(input.clientId, input.fiat);
  const r = await q.query<{ net: string | null }>(
    `SELECT sum(CASE WHEN credit_account = $2 THEN amount ELSE -amount END) AS net FROM otc_transfers
      WHERE order_id = $1 AND kind IN ('posted', 'post_pending') AND $2 IN (debit_account, credit_account)`,
    [input.orderId, account],
  );
  return r.rows[0]?.net == null ? 0n : fromNumeric(r.rows[0].net);
}

/** Refunds `amount` of fiat from the client's account to the bank, for the order. */
export async function refundFiat(
  q: Queryable,
  input: { orderId: string; clientId: string; fiat: string; amount: bigint; reason: string },
): Promise<Transfer> {
  checkLedgerId(input.orderId, 'orderId');
  checkPositive(input.amount, 'amount');
  if (typeof input.reason !== 'string' || input.reason.length === 0 || input.reason.length > 200)
    throw invalid('reason', 'must be a text of 1 to 200 characters');
  const account = accountIds.clientAsset(input.clientId, input.fiat);
  return atomically(q, async (tx) => {
    await ensureAccount(tx, accountSpecs.externalBank(input.fiat));
    // Under the account's lock, so two refunds of one order number themselves 1, 2 and not 1, 1.
    await tx.query('SELECT id FROM otc_accounts WHERE id = $1 FOR UPDATE', [account]);
    const n = await tx.query<{ n: string }>(
      `SELECT count(*) AS n FROM otc_transfers WHERE order_id = $1 AND code = 'fiat_refund'`,
      [input.orderId],
    );
    return post(tx, {
      id: buyTransferIds.refund(input.orderId, Number(n.rows[0]?.n ?? 0) + 1),
      debit: account,
      credit: accountIds.externalBank(input.fiat),
      asset: input.fiat,
      amount: input.amount,
      orderId: input.orderId,
      code: 'fiat_refund',
      detail: { reason: input.reason },
    });
  });
}

/** Refunds whatever fiat the order still holds (cancellation, over-payment); nothing when it holds none. */
export async function refundOrderFiat(
  q: Queryable,
  input: { orderId: string; clientId: string; fiat: string; reason: string },
): Promise<Transfer | undefined> {
  return atomically(q, async (tx) => {
    const held = await orderFiatHeld(tx, input);
    if (held < 0n) throw new OtcError('internal', `order ${input.orderId} owes ${-held} on its fiat account`);
    return held === 0n ? undefined : refundFiat(tx, { ...input, amount: held });
  });
}

/**
 * The whole cancel recipe: voids the reservation if it is still open and refunds the order's fiat. A
 * reservation already posted (the crypto was released) cannot be cancelled.
 */
export async function cancelBuy(
  q: Queryable,
  input: { orderId: string; clientId: string; fiat: string; reason: string },
): Promise<{ reservation?: Transfer; refund?: Transfer }> {
  checkLedgerId(input.orderId, 'orderId');
  return atomically(q, async (tx) => {
    await ensureAccount(tx, accountSpecs.externalBank(input.fiat));
    const open = await openReservation(tx, input.orderId);
    await lockAccountsInOrder(tx, [
      ...(open ? [open.debitAccount, open.creditAccount] : []),
      accountIds.clientAsset(input.clientId, input.fiat),
      accountIds.externalBank(input.fiat),
    ]);
    const posted = await tx.query<{ id: string }>(
      `SELECT r.id FROM otc_transfers r JOIN otc_transfers t ON t.id = r.pending_id
        WHERE t.order_id = $1 AND t.code = 'inventory_reservation' AND r.kind = 'post_pending'`,
      [input.orderId],
    );
    if (posted.rows[0] !== undefined)
      throw new OtcError(
        'conflict',
        `order ${input.orderId} was released (${posted.rows[0].id}); it cannot be cancelled`,
        'orderId',
      );
    const reservation =
      open === undefined
        ? undefined
        : await voidPending(tx, { id: buyTransferIds.reserveVoid(open.id), pendingId: open.id });
    const refund = await refundOrderFiat(tx, input);
    return { ...(reservation ? { reservation } : {}), ...(refund ? { refund } : {}) };
  });
}

/**
 * The network fee a release paid from the hot wallet: house:hot:N → house:fees:N in the chain's native
 * asset N, once per order. When the hot wallet's available balance cannot cover it (all of it reserved),
 * nothing is booked and reconciliation lists the drift for an operator; completion never waits on it.
 */
export async function bookNetworkFee(
  q: Queryable,
  input: { orderId: string; asset: string; amount: bigint; txHash: string },
): Promise<Transfer | undefined> {
  checkLedgerId(input.orderId, 'orderId');
  checkAsset(input.asset, 'asset');
  checkPositive(input.amount, 'amount');
  return atomically(q, async (tx) => {
    await ensureAccount(tx, accountSpecs.houseHot(input.asset));
    await ensureAccount(tx, accountSpecs.houseFees(input.asset));
    await tx.query('SAVEPOINT network_fee');
    try {
      const t = await post(tx, {
        id: `ord:${input.orderId}:fee`,
        debit: accountIds.houseHot(input.asset),
        credit: accountIds.houseFees(input.asset),
        asset: input.asset,
        amount: input.amount,
        orderId: input.orderId,
        code: 'network_fee',
        detail: { txHash: input.txHash },
      });
      await tx.query('RELEASE SAVEPOINT network_fee');
      return t;
    } catch (e) {
      if (!(e instanceof OtcError) || e.code !== 'insufficient-inventory') throw e;
      await tx.query('ROLLBACK TO SAVEPOINT network_fee');
      return undefined;
    }
  });
}

/** An operator moved crypto into the hot wallet (the chain transaction is the reference). */
export async function fundInventory(
  q: Queryable,
  input: { asset: string; amount: bigint; reference: string; txHash?: string },
): Promise<Transfer> {
  checkAsset(input.asset, 'asset');
  checkPositive(input.amount, 'amount');
  checkLedgerId(input.reference, 'reference');
  if (input.txHash !== undefined) checkLedgerId(input.txHash, 'txHash');
  return atomically(q, async (tx) => {
    await ensureAccount(tx, accountSpecs.externalChain(input.asset));
    await ensureAccount(tx, accountSpecs.houseHot(input.asset));
    return post(tx, {
      id: `fund:${input.reference}`,
      debit: accountIds.externalChain(input.asset),
      credit: accountIds.houseHot(input.asset),
      asset: input.asset,
      amount: input.amount,
      code: 'inventory_funding',
      detail: input.txHash === undefined ? {} : { txHash: input.txHash },
    });
  });
}

/** The hot wallet's inventory not yet reserved (0 when the asset was never funded). */
export async function availableInventory(q: Queryable, asset: string): Promise<bigint> {
  const r = await q.query<{ available: string }>(
    'SELECT credits_posted - debits_posted - debits_pending AS available FROM otc_accounts WHERE id = $1',
    [accountIds.houseHot(asset)],
  );
  return r.rows[0] === undefined ? 0n : fromNumeric(r.rows[0].available);
}
