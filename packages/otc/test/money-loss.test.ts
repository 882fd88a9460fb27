// Money-loss regressions of the buy desk, without the signer nodes, on both databases: each test is named
// after the loss it prevents (a release for money that never fully arrived, a stale rate honoured, a
// payment counted twice, a release through a freeze, one person approving their own payment, a customer
// seeing another's order). The ledger must balance after every test. The test desk's nodes are
// unreachable placeholders: an order that reaches the release worker waits in `releasing` with no node
// request, which is all these tests need.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exportAudit, verifyAudit } from '../src/audit/log.ts';
import type { Database } from '../src/db/database.ts';
import { availableInventory, checkLedger, fundInventory } from '../src/ledger/ledger.ts';
import { signQuoteToken } from '../src/quotes/token.ts';
import { DATABASE_KINDS, freshDatabase } from './helpers/db.ts';
import { PLACEHOLDER_PRICES, type TestDesk, testDesk } from './helpers/desk.ts';
import {
  acceptQuote,
  countRows,
  ETH,
  evidenceOf,
  fiatNotice,
  getOrder,
  placeOrder,
  quote,
  railHeaders,
  recordEvidence,
  registerClient,
  sendFiatWebhook,
  transfersOf,
} from './helpers/orders.ts';

const MINUTE = 60_000;
/** Orders of 5,000.00 USD or more need an ops checker's desk approval on this desk (2 ETH does, 1 ETH not). */
const DESK_APPROVAL_CENTS = 500_000n;
const OLIVIA = { id: 'olivia', role: 'ops-maker' } as const;

describe.each(DATABASE_KINDS)('money-loss regressions on %s', (kind) => {
  let db: Database;
  let t: TestDesk;

  beforeAll(async () => {
    db = await freshDatabase(kind);
    t = await testDesk(db, { deskApprovalUsdCents: DESK_APPROVAL_CENTS });
    await fundInventory(db, { asset: 'ETH', amount: 1000n * ETH, reference: 'money-loss-seed' });
  });
  afterAll(async () => {
    await t.close();
    await db.close();
  });
  beforeEach(() => {
    t.clock.now = Date.now();
    t.dev.refreshPrices(PLACEHOLDER_PRICES);
  });
  // A ledger that balances after every test (after the worker has finished what the test started).
  afterEach(async () => {
    await t.desk.worker.tick();
    expect(await checkLedger(db)).toEqual({ balanced: true, problems: [] });
  });

  it('stale quote: a firm quote accepted after its expiry is refused and reserves nothing', async () => {
    await registerClient(t, 'c-stale');
    const q = await quote(t, 'c-stale', ETH);
    const before = await countRows(db);
    const inventory = await availableInventory(db, 'ETH');
    t.clock.now += t.config.quotes.firmTtlMs + 1;
    const late = await acceptQuote(t, 'c-stale', q.token);
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'quote-expired', field: 'quoteToken' });
    expect(await countRows(db)).toEqual(before);
    expect(await availableInventory(db, 'ETH')).toBe(inventory);
  });

  it('reused quote: one firm quote accepted twice makes one order and one reservation', async () => {
    const { quote: q, order } = await placeOrder(t, 'c-reuse', ETH);
    const before = await countRows(db);
    const again = await acceptQuote(t, 'c-reuse', q.token);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('quote-used');
    expect(await countRows(db)).toEqual(before);
    const reservations = (await transfersOf(db, order.id)).filter((x) => x.code === 'inventory_reservation');
    expect(reservations).toHaveLength(1);
  });

  it('indicative quote executed: even a desk-signed token for an indicative quote is refused (quote-indicative)', async () => {
    await registerClient(t, 'c-indicative');
    const q = await quote(t, 'c-indicative', ETH, 'indicative');
    expect(q.token).toBeUndefined();
    const token = signQuoteToken(t.config.quotes.signingKey, {
      id: String(q.id),
      clientId: 'c-indicative',
      side: 'buy',
      asset: 'ETH',
      amount: ETH,
      fiatCurrency: 'USD',
      priceMinor: BigInt(String(q.priceMinor)),
      fiatAmount: BigInt(String(q.fiatAmount)),
      expiresAtMs: Date.parse(String(q.expiresAt)),
    });
    const before = await countRows(db);
    const r = await acceptQuote(t, 'c-indicative', token);
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ code: 'quote-indicative', field: 'quoteToken' });
    expect(await countRows(db)).toEqual(before);
  });

  it('under-payment released as paid: nothing moves until the remainder arrives (await_remainder)', async () => {
    const { order } = await placeOrder(t, 'c-under', ETH);
    const part = await recordEvidence(t, order, { bankReference: 'UNDER-1', amount: 200_000n });
    expect(part.status, JSON.stringify(part.body)).toBe(201);
    expect(part.body.outcome).toBe('exception');
    const held = part.body.order as Record<string, unknown>;
    expect(held).toMatchObject({ status: 'awaiting_payment', exception: 'under_payment' });
    expect(held.exceptionDetail).toMatchObject({ received: '200000', expected: '301500' });
    // Neither an ops maker's confirmation nor the worker releases it.
    const confirm = await t.call('POST', `/v1/orders/${order.id}/confirm-payment`, 'olivia', {});
    expect(confirm.status).toBe(409);
    await t.desk.worker.tick();
    expect((await getOrder(t, order.id)).status).toBe('awaiting_payment');

    const wait = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'await_remainder',
    });
    expect(wait.status, JSON.stringify(wait.body)).toBe(200);
    expect(wait.body).toMatchObject({ status: 'awaiting_payment', exception: null });
    const rest = await recordEvidence(t, order, { bankReference: 'UNDER-2', amount: 101_500n });
    expect(rest.status, JSON.stringify(rest.body)).toBe(201);
    expect(rest.body.outcome).toBe('paid');
    await t.desk.worker.tick();
    const paid = await getOrder(t, order.id);
    expect(paid.status).toBe('releasing');
    expect(paid.release).toMatchObject({ idempotencyKey: `otc:${order.id}:release`, requestId: null });
    const fiat = (await transfersOf(db, order.id)).filter((x) => x.code === 'fiat_received');
    expect(fiat.map((x) => x.amount)).toEqual(['200000', '101500']);
  });

  it('under-payment kept by the desk: refund_and_cancel refunds all received and voids the reservation', async () => {
    const { order } = await placeOrder(t, 'c-under-refund', ETH);
    const part = await recordEvidence(t, order, { bankReference: 'UNDER-R-1', amount: 100_000n });
    expect(part.body.outcome).toBe('exception');
    const r = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'refund_and_cancel',
      reason: 'customer asked for the money back',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ status: 'cancelled', exception: null });
    const transfers = await transfersOf(db, order.id);
    expect(transfers.filter((x) => x.code === 'fiat_refund').map((x) => x.amount)).toEqual(['100000']);
    expect(transfers.filter((x) => x.kind === 'void_pending').map((x) => x.id)).toEqual([
      `ord:${order.id}:reserve:void`,
    ]);
  });

  it('over-payment kept by the desk: refund_excess pays the order and refunds exactly the excess', async () => {
    const { order } = await placeOrder(t, 'c-over', ETH);
    const over = await recordEvidence(t, order, { bankReference: 'OVER-1', amount: 350_000n });
    expect(over.body.outcome).toBe('exception');
    expect(over.body.order).toMatchObject({ status: 'awaiting_payment', exception: 'over_payment' });
    await t.desk.worker.tick();
    expect((await getOrder(t, order.id)).status).toBe('awaiting_payment');
    const r = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'refund_excess',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ status: 'awaiting_release', exception: null });
    const transfers = await transfersOf(db, order.id);
    expect(transfers.filter((x) => x.code === 'fiat_refund').map((x) => x.amount)).toEqual(['48500']);
    expect(transfers.filter((x) => x.code === 'fiat_received').map((x) => x.amount)).toEqual(['350000']);
  });

  it('late payment at the held rate: a transfer after the window expires the order; refund returns all of it', async () => {
    const { order } = await placeOrder(t, 'c-late', ETH);
    t.clock.now += t.config.payments.windowMs + MINUTE;
    const late = await recordEvidence(t, order, { bankReference: 'LATE-1' });
    expect(late.status, JSON.stringify(late.body)).toBe(201);
    expect(late.body.outcome).toBe('exception');
    expect(late.body.order).toMatchObject({ status: 'expired', exception: 'late_payment' });
    // The rate is no longer held: the reservation is gone, nothing can confirm or release the order.
    const voided = (await transfersOf(db, order.id)).filter((x) => x.kind === 'void_pending');
    expect(voided.map((x) => x.id)).toEqual([`ord:${order.id}:reserve:void`]);
    const confirm = await t.call('POST', `/v1/orders/${order.id}/confirm-payment`, 'olivia', {});
    expect(confirm.status).toBe(409);
    const wrong = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'refund_excess',
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.field).toBe('resolution');
    const r = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'refund',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ status: 'expired', exception: null });
    const refunds = (await transfersOf(db, order.id)).filter((x) => x.code === 'fiat_refund');
    expect(refunds.map((x) => x.amount)).toEqual(['301500']);
  });

  it('late payment at the expired rate: a re-quote prices the received money at the current price', async () => {
    // The dev price table is signed with the wall clock and refused after 10 minutes, so this desk's
    // window is made short enough for a fresh quote to exist after it (the desk reads its config live).
    const windowMs = t.config.payments.windowMs;
    t.config.payments.windowMs = 2 * MINUTE;
    let order: Record<string, unknown>;
    try {
      ({ order } = await placeOrder(t, 'c-requote', ETH));
    } finally {
      t.config.payments.windowMs = windowMs;
    }
    expect(order.fiatAmount).toBe('301500');
    t.clock.now += 3 * MINUTE;
    expect((await t.desk.worker.tick()).expired).toBeGreaterThanOrEqual(1);
    expect((await getOrder(t, order.id)).status).toBe('expired');
    const late = await recordEvidence(t, order, { bankReference: 'REQUOTE-1', atMs: t.clock.now - MINUTE });
    expect(late.body.order).toMatchObject({ status: 'expired', exception: 'late_payment' });

    // ETH is now 3,500.00 USD: the 301,500 cents received buy less than the expired order's 1 ETH.
    t.dev.refreshPrices([{ asset: 'ETH', fiat: 'USD', mid: 350_000n }]);
    const tooDear = await quote(t, 'c-requote', ETH);
    expect(tooDear.priceMinor).toBe('351750');
    const refused = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'requote',
      quoteToken: tooDear.token,
    });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('payment-mismatch');
    expect((await getOrder(t, order.id)).exception).toBe('late_payment');

    const amount = (ETH * 8n) / 10n;
    const fresh = await quote(t, 'c-requote', amount);
    expect(fresh.fiatAmount).toBe('281400');
    const r = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'requote',
      quoteToken: fresh.token,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      status: 'awaiting_release',
      exception: null,
      amount: amount.toString(),
      fiatAmount: '281400',
      priceMinor: '351750',
      quoteId: fresh.id,
    });
    const transfers = await transfersOf(db, order.id);
    expect(transfers.filter((x) => x.code === 'fiat_refund').map((x) => x.amount)).toEqual(['20100']);
    const reservations = transfers.filter((x) => x.code === 'inventory_reservation' && x.kind === 'pending');
    expect(reservations.map((x) => [x.id, x.amount])).toEqual([
      [`ord:${order.id}:reserve`, ETH.toString()],
      [`ord:${order.id}:reserve:2`, amount.toString()],
    ]);
  });

  it('claimed but not received: a claimed order does not expire; it is flagged and still paid at its rate', async () => {
    const { order } = await placeOrder(t, 'c-claimed', ETH);
    const claimed = await t.call('POST', `/v1/orders/${order.id}/claim-payment`, 'desk-backend', {
      clientId: 'c-claimed',
    });
    expect(claimed.status, JSON.stringify(claimed.body)).toBe(200);
    expect(claimed.body.status).toBe('payment_claimed');
    const { order: unclaimed } = await placeOrder(t, 'c-claimed-2', ETH);
    t.clock.now += t.config.payments.windowMs + MINUTE;
    await t.desk.worker.tick();
    expect(await getOrder(t, order.id)).toMatchObject({
      status: 'payment_claimed',
      exception: 'claimed_not_received',
    });
    expect((await getOrder(t, unclaimed.id)).status).toBe('expired');
    // The money was on its way: sent inside the window, it arrives after it and the order is paid at
    // its locked rate (the claim froze the window).
    const sentAt = Date.parse(String(order.paymentDeadline)) - MINUTE;
    const paid = await recordEvidence(t, order, { bankReference: 'CLAIMED-1', atMs: sentAt });
    expect(paid.body.outcome).toBe('paid');
    expect(paid.body.order).toMatchObject({
      status: 'awaiting_release',
      exception: null,
      fiatAmount: '301500',
    });
  });

  it('claimed but paid late: a transfer sent after the window is a late payment, never paid at the held rate', async () => {
    const { order } = await placeOrder(t, 'c-claimed-late', ETH);
    await t.call('POST', `/v1/orders/${order.id}/claim-payment`, 'desk-backend', {
      clientId: 'c-claimed-late',
    });
    t.clock.now += t.config.payments.windowMs + MINUTE;
    const late = await recordEvidence(t, order, { bankReference: 'CLAIMED-LATE-1' });
    expect(late.body.outcome).toBe('exception');
    expect(late.body.order).toMatchObject({ status: 'payment_claimed', exception: 'late_payment' });
    const refunded = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'refund',
    });
    expect(refunded.body).toMatchObject({ status: 'cancelled', exception: null });
  });

  it('claim after the window: a customer cannot claim payment once the window has ended', async () => {
    const { order } = await placeOrder(t, 'c-claim-after', ETH);
    t.clock.now += t.config.payments.windowMs + MINUTE;
    const claimed = await t.call('POST', `/v1/orders/${order.id}/claim-payment`, 'desk-backend', {
      clientId: 'c-claim-after',
    });
    expect(claimed.status).toBe(409);
    expect(claimed.body.code).toBe('invalid-transition');
  });

  it('claimed but never received: ops cancel it and the reservation is released', async () => {
    const { order } = await placeOrder(t, 'c-claimed-cancel', ETH);
    await t.call('POST', `/v1/orders/${order.id}/claim-payment`, 'desk-backend', {
      clientId: 'c-claimed-cancel',
    });
    t.clock.now += t.config.payments.windowMs + MINUTE;
    await t.desk.worker.tick();
    const r = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'cancel',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ status: 'cancelled', exception: null });
    const transfers = await transfersOf(db, order.id);
    expect(transfers.filter((x) => x.kind === 'void_pending')).toHaveLength(1);
    expect(transfers.filter((x) => x.code === 'fiat_refund')).toHaveLength(0);
  });

  it('forged and replayed fiat-rail webhooks: refused (401, 409); one evidence, one posting, one paid order', async () => {
    // A low-risk order: this desk auto-confirms first orders of institutional clients up to 1,000 USD.
    const rule = t.config.autoConfirm;
    const allowFirst = rule.allowFirstOrder;
    rule.allowFirstOrder = true;
    try {
      const { order } = await placeOrder(t, 'c-hook', ETH / 10n, 'institutional');
      const payload = fiatNotice({
        paymentReference: order.paymentReference,
        bankReference: 'HOOK-1',
        amount: order.fiatAmount,
        currency: 'USD',
        transferredAt: new Date(t.clock.now).toISOString(),
      });
      const forged = await sendFiatWebhook(
        t,
        payload,
        railHeaders(payload, `whsec_${Buffer.alloc(32, 7).toString('base64')}`, t.clock.now),
      );
      expect(forged.status).toBe(401);
      expect(forged.body.code).toBe('webhook-invalid');
      const headers = railHeaders(payload, t.dev.inboundWebhookSecret, t.clock.now);
      const altered = await sendFiatWebhook(t, payload.replace(String(order.fiatAmount), '999999'), headers);
      expect(altered.status).toBe(401);
      expect(await evidenceOf(db, order.id)).toEqual([]);

      const first = await sendFiatWebhook(t, payload, headers);
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      expect(first.body).toEqual({ received: true, outcome: 'confirmed' });
      const replay = await sendFiatWebhook(t, payload, headers);
      expect(replay.status).toBe(409);
      expect(replay.body.code).toBe('webhook-replayed');
      expect(await evidenceOf(db, order.id)).toEqual([
        { bank_reference: 'HOOK-1', amount: order.fiatAmount },
      ]);
      const fiat = (await transfersOf(db, order.id)).filter((x) => x.code === 'fiat_received');
      expect(fiat).toHaveLength(1);
      const events = (await t.call('GET', `/v1/orders/${order.id}/events`, 'audrey')).body.events as {
        event: string;
      }[];
      expect(events.filter((e) => e.event === 'confirm_payment')).toHaveLength(1);
    } finally {
      rule.allowFirstOrder = allowFirst;
    }
  });

  it('webhook confirms a risky order: a non-low-risk order waits for an ops maker to confirm', async () => {
    const { order } = await placeOrder(t, 'c-hook-risky', ETH);
    const payload = fiatNotice({
      paymentReference: order.paymentReference,
      bankReference: 'HOOK-RISKY-1',
      amount: order.fiatAmount,
      currency: 'USD',
      transferredAt: new Date(t.clock.now).toISOString(),
    });
    const r = await sendFiatWebhook(t, payload);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ received: true, outcome: 'awaiting_confirmation' });
    await t.desk.worker.tick();
    expect(await getOrder(t, order.id)).toMatchObject({ status: 'awaiting_payment', exception: null });
    const confirmed = await t.call('POST', `/v1/orders/${order.id}/confirm-payment`, 'olivia', {});
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    expect(confirmed.body.status).toBe('awaiting_release');
    const fiat = (await transfersOf(db, order.id)).filter((x) => x.code === 'fiat_received');
    expect(fiat).toHaveLength(1);
  });

  it('one bank transfer paying two orders: a webhook reusing a bank reference is acknowledged as refused, nothing posted', async () => {
    const { order: a } = await placeOrder(t, 'c-hook-dup-a', ETH);
    const { order: b } = await placeOrder(t, 'c-hook-dup-b', ETH);
    expect((await recordEvidence(t, a, { bankReference: 'HOOK-DUP-1' })).status).toBe(201);
    await t.desk.worker.tick(); // the release worker the evidence woke has finished with order a
    const before = await countRows(db, ['otc_fiat_evidence', 'otc_transfers', 'otc_order_events']);
    const payload = fiatNotice({
      paymentReference: b.paymentReference,
      bankReference: 'HOOK-DUP-1',
      amount: b.fiatAmount,
      currency: 'USD',
      transferredAt: new Date(t.clock.now).toISOString(),
    });
    const r = await sendFiatWebhook(t, payload);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ received: true, outcome: 'refused_duplicate_bank_reference' });
    expect(await countRows(db, ['otc_fiat_evidence', 'otc_transfers', 'otc_order_events'])).toEqual(before);
    expect(await transfersOf(db, b.id)).toHaveLength(1); // its reservation only
    expect((await getOrder(t, b.id)).status).toBe('awaiting_payment');
    const kept = await db.query<{ outcome: string }>(
      `SELECT outcome FROM otc_inbound_webhooks WHERE payload->'data'->>'paymentReference' = $1`,
      [b.paymentReference],
    );
    expect(kept.rows).toEqual([{ outcome: 'refused_duplicate_bank_reference' }]);
  });

  it('one bank transfer paying two orders: evidence reusing a bank reference is refused (409) and writes nothing', async () => {
    const { order: a } = await placeOrder(t, 'c-dup-a', ETH);
    const { order: b } = await placeOrder(t, 'c-dup-b', ETH);
    expect((await recordEvidence(t, a, { bankReference: 'DUP-1' })).status).toBe(201);
    await t.desk.worker.tick(); // the release worker the evidence woke has finished with order a
    const before = await countRows(db);
    const r = await recordEvidence(t, b, { bankReference: 'DUP-1' });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ code: 'duplicate-bank-reference', field: 'bankReference' });
    expect(await countRows(db)).toEqual(before);
    expect(await getOrder(t, b.id)).toMatchObject({ status: 'awaiting_payment', version: b.version });
  });

  it('release during a freeze: desk, asset and client freezes stop quotes, evidence and releases until lifted', async () => {
    const client = 'c-freeze';
    const { order: approval } = await placeOrder(t, client, 2n * ETH);
    expect(approval.deskApprovalRequired).toBe(true);
    expect((await recordEvidence(t, approval, { bankReference: 'FRZ-1' })).body.outcome).toBe('paid');
    const { order: unpaid } = await placeOrder(t, client, ETH);
    // An order that needs no desk approval, paid through the service (no worker kick), waits for the worker.
    const { order: auto } = await placeOrder(t, client, ETH);
    await t.desk.worker.tick();
    const paid = await t.desk.payments.recordEvidence(
      OLIVIA,
      {
        paymentReference: String(auto.paymentReference),
        bankReference: 'FRZ-2',
        amount: 301_500n,
        currency: 'USD',
        transferredAt: new Date(t.clock.now),
      },
      'manual',
    );
    expect(paid.order.status).toBe('awaiting_release');
    const scopes = ['desk', 'asset:ETH', `client:${client}`];
    try {
      for (const scope of scopes) {
        const frozen = await t.call('POST', '/v1/freezes', 'adam', { scope, reason: `drill ${scope}` });
        expect(frozen.status, JSON.stringify(frozen.body)).toBe(201);
        const q = await t.call('POST', '/v1/quotes', 'desk-backend', {
          clientId: client,
          side: 'buy',
          asset: 'ETH',
          amount: ETH.toString(),
          fiatCurrency: 'USD',
          kind: 'firm',
        });
        expect([q.status, q.body.code, q.body.scope]).toEqual([423, 'frozen', scope]);
        const ev = await recordEvidence(t, unpaid, { bankReference: `FRZ-${scope}` });
        expect([ev.status, ev.body.code]).toEqual([423, 'frozen']);
        const ok = await t.call('POST', `/v1/orders/${approval.id}/desk-approval`, 'oscar', {});
        expect([ok.status, ok.body.code]).toEqual([423, 'frozen']);
        const report = await t.desk.worker.tick();
        expect(report.errors.some((e) => e.startsWith(`${auto.id}: frozen`))).toBe(true);
        expect((await getOrder(t, auto.id)).status).toBe('awaiting_release');
        expect(await evidenceOf(db, unpaid.id)).toEqual([]);
        const lifted = await t.call('POST', '/v1/freezes/lift', 'adam', { scope, reason: 'drill over' });
        expect(lifted.body).toEqual({ scope, lifted: true });
      }
    } finally {
      for (const scope of scopes)
        await t.call('POST', '/v1/freezes/lift', 'adam', { scope, reason: 'cleanup' });
    }
    await t.desk.worker.tick();
    const released = await getOrder(t, auto.id);
    expect(released.status).toBe('releasing');
    expect((released.release as Record<string, unknown>).requestId).toBeNull();
    const ok = await t.call('POST', `/v1/orders/${approval.id}/desk-approval`, 'oscar', {});
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect((await recordEvidence(t, unpaid, { bankReference: 'FRZ-3' })).body.outcome).toBe('paid');

    const audit = await exportAudit(db, { limit: 10_000 });
    for (const scope of scopes) {
      const actions = audit.filter((e) => e.subject === scope && e.actor === 'adam').map((e) => e.action);
      expect(actions.slice(0, 2)).toEqual(['freeze', 'unfreeze']);
    }
    expect((await verifyAudit(db)).ok).toBe(true);
  });

  it('four eyes: the ops maker who confirmed the payment cannot also give the desk approval', async () => {
    const { order } = await placeOrder(t, 'c-four-eyes', 2n * ETH);
    expect((await recordEvidence(t, order, { bankReference: 'FOUR-1' })).body.outcome).toBe('paid');
    const self = await t.call('POST', `/v1/orders/${order.id}/desk-approval`, 'olivia', {});
    expect(self.status).toBe(403);
    // Even holding a checker's key, the maker of this order is refused by the service.
    await expect(
      t.desk.buy.deskApprove({ id: 'olivia', role: 'ops-checker' }, String(order.id)),
    ).rejects.toMatchObject({ code: 'forbidden' });
    expect((await getOrder(t, order.id)).status).toBe('awaiting_release');
    const ok = await t.call('POST', `/v1/orders/${order.id}/desk-approval`, 'oscar', {});
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.status).toBe('releasing');
    const approvals = await db.query('SELECT approver FROM otc_desk_approvals WHERE order_id = $1', [
      order.id,
    ]);
    expect(approvals.rows).toEqual([{ approver: 'oscar' }]);
  });

  it("backend isolation: the backend acting for one customer never sees or moves another customer's order", async () => {
    const { order } = await placeOrder(t, 'c-iso-a', ETH);
    await registerClient(t, 'c-iso-b');
    const read = await t.call('GET', `/v1/orders/${order.id}?clientId=c-iso-b`, 'desk-backend');
    expect([read.status, read.body.code]).toEqual([404, 'not-found']);
    const events = await t.call('GET', `/v1/orders/${order.id}/events?clientId=c-iso-b`, 'desk-backend');
    expect(events.status).toBe(404);
    const claim = await t.call('POST', `/v1/orders/${order.id}/claim-payment`, 'desk-backend', {
      clientId: 'c-iso-b',
    });
    expect(claim.status).toBe(404);
    const cancel = await t.call('POST', `/v1/orders/${order.id}/cancel`, 'desk-backend', {
      clientId: 'c-iso-b',
      reason: 'not mine',
    });
    expect(cancel.status).toBe(404);
    const unscoped = await t.call('GET', `/v1/orders/${order.id}`, 'desk-backend');
    expect([unscoped.status, unscoped.body.field]).toEqual([400, 'clientId']);
    const list = await t.call('GET', '/v1/orders?clientId=c-iso-b', 'desk-backend');
    expect(list.body.orders).toEqual([]);
    expect(await getOrder(t, order.id)).toMatchObject({ status: 'awaiting_payment', version: order.version });
  });
});
