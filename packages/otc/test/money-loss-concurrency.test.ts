// Money-loss races between two service instances: two desks, each on its own Database handle (its own
// pool) opened on the SAME PostgreSQL database, receiving the racing requests at the same instant. Only
// the server can show this (PGlite is one connection in one process). Each test is named after the loss it
// prevents; the ledger must balance after every test. No signer nodes: a paid order waits in releasing.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrations.ts';
import { availableInventory, checkLedger, fundInventory } from '../src/ledger/ledger.ts';
import { createServerDatabase } from './helpers/db.ts';
import { type TestDesk, testDesk } from './helpers/desk.ts';
import {
  acceptQuote,
  ETH,
  evidenceBody,
  evidenceOf,
  getOrder,
  placeOrder,
  quote,
  registerClient,
  transfersOf,
} from './helpers/orders.ts';

type Pair = { dbA: Database; dbB: Database; a: TestDesk; b: TestDesk };

/** Two service instances on one server database, with `inventory` wei of ETH in the hot wallet. */
async function twoInstances(inventory: bigint): Promise<Pair> {
  const url = await createServerDatabase();
  const dbA = await openDatabase({ url });
  await migrate(dbA);
  const dbB = await openDatabase({ url });
  const a = await testDesk(dbA);
  const b = await testDesk(dbB);
  await fundInventory(dbA, { asset: 'ETH', amount: inventory, reference: 'race-seed' });
  return { dbA, dbB, a, b };
}

async function closePair(p: Pair | undefined): Promise<void> {
  await p?.a.close();
  await p?.b.close();
  await p?.dbA.close();
  await p?.dbB.close();
}

async function events(t: TestDesk, id: unknown): Promise<string[]> {
  const r = await t.call('GET', `/v1/orders/${String(id)}/events`, 'audrey');
  return (r.body.events as { event: string }[]).map((e) => e.event);
}

describe('money-loss races between two service instances on one PostgreSQL server', () => {
  let p: Pair;
  beforeAll(async () => {
    p = await twoInstances(100n * ETH);
  });
  afterAll(() => closePair(p));
  afterEach(async () => {
    await Promise.all([p.a.desk.worker.tick(), p.b.desk.worker.tick()]);
    expect(await checkLedger(p.dbA)).toEqual({ balanced: true, problems: [] });
  });

  it('one transfer counted twice: the same bank reference recorded at once on both instances is one payment', async () => {
    for (let round = 0; round < 3; round++) {
      const { order } = await placeOrder(p.a, `c-same-ref-${round}`, ETH);
      const body = evidenceBody(p.a, order, { bankReference: `SAME-REF-${round}` });
      const answers = await Promise.all([
        p.a.call('POST', '/v1/fiat/evidence', 'olivia', body),
        p.b.call('POST', '/v1/fiat/evidence', 'olivia', body),
      ]);
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses, JSON.stringify(answers.map((r) => r.body))).toEqual([201, 409]);
      const loser = answers.find((r) => r.status === 409)!;
      expect(loser.body).toMatchObject({ code: 'duplicate-bank-reference', field: 'bankReference' });
      expect(answers.find((r) => r.status === 201)!.body.outcome).toBe('paid');
      expect(await evidenceOf(p.dbA, order.id)).toHaveLength(1);
      const fiat = (await transfersOf(p.dbA, order.id)).filter((x) => x.code === 'fiat_received');
      expect(fiat.map((x) => x.amount)).toEqual(['301500']);
      const log = await events(p.a, order.id);
      expect(log.filter((e) => e === 'confirm_payment')).toHaveLength(1);
      expect(log.filter((e) => e === 'request_release')).toHaveLength(1);
    }
  });

  it('double release for two transfers: two bank references for one order at once make an over-payment, one release', async () => {
    const { order } = await placeOrder(p.a, 'c-two-refs', ETH);
    const answers = await Promise.all([
      p.a.call(
        'POST',
        '/v1/fiat/evidence',
        'olivia',
        evidenceBody(p.a, order, { bankReference: 'TWO-REFS-A' }),
      ),
      p.b.call(
        'POST',
        '/v1/fiat/evidence',
        'olivia',
        evidenceBody(p.b, order, { bankReference: 'TWO-REFS-B' }),
      ),
    ]);
    expect(answers.map((r) => r.status)).toEqual([201, 201]);
    expect(answers.map((r) => r.body.outcome).sort()).toEqual(['exception', 'paid']);
    await Promise.all([p.a.desk.worker.tick(), p.b.desk.worker.tick()]);
    const after = await getOrder(p.a, order.id);
    expect(after).toMatchObject({ exception: 'over_payment', fiatAmount: '301500' });
    expect(['awaiting_release', 'releasing']).toContain(after.status);
    expect((after.release as Record<string, unknown>).idempotencyKey).toBe(`otc:${order.id}:release`);
    const log = await events(p.a, order.id);
    expect(log.filter((e) => e === 'confirm_payment')).toHaveLength(1);
    expect(log.filter((e) => e === 'request_release')).toHaveLength(1);
    expect(log.filter((e) => e === 'release').length).toBeLessThanOrEqual(1);
    // The second transfer goes back whole; the order keeps exactly its price.
    const r = await p.b.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
      resolution: 'refund_excess',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.exception).toBeNull();
    const transfers = await transfersOf(p.dbA, order.id);
    expect(transfers.filter((x) => x.code === 'fiat_received').map((x) => x.amount)).toEqual([
      '301500',
      '301500',
    ]);
    expect(transfers.filter((x) => x.code === 'fiat_refund').map((x) => x.amount)).toEqual(['301500']);
  });

  it('crypto released for a cancelled order: cancel racing the payment leaves a refund, never a release', async () => {
    const outcomes: string[] = [];
    for (let round = 0; round < 4; round++) {
      const client = `c-cancel-race-${round}`;
      const { order } = await placeOrder(p.a, client, ETH);
      const [cancel, paid] = await Promise.all([
        p.a.call('POST', `/v1/orders/${order.id}/cancel`, 'desk-backend', {
          clientId: client,
          reason: 'changed mind',
        }),
        p.b.call(
          'POST',
          '/v1/fiat/evidence',
          'olivia',
          evidenceBody(p.b, order, { bankReference: `RACE-${round}` }),
        ),
      ]);
      expect(paid.status, JSON.stringify(paid.body)).toBe(201);
      if (cancel.status === 200) {
        // The cancel won: the money that still arrived is a late payment to refund.
        outcomes.push('cancel');
        expect(paid.body.outcome).toBe('exception');
        expect(paid.body.order).toMatchObject({ status: 'cancelled', exception: 'late_payment' });
        await refundLatePayment(p, order.id);
      } else {
        // The payment won: the backend may no longer cancel a paid order (only an admin, with a refund).
        outcomes.push('payment');
        expect([403, 409], JSON.stringify(cancel.body)).toContain(cancel.status);
        expect(paid.body.outcome).toBe('paid');
        expect(['awaiting_release', 'releasing']).toContain((await getOrder(p.a, order.id)).status);
      }
    }
    // The cancel's branch, forced: cancelled on one instance, the money recorded on the other afterwards.
    const { order } = await placeOrder(p.a, 'c-cancel-first', ETH);
    const cancel = await p.a.call('POST', `/v1/orders/${order.id}/cancel`, 'desk-backend', {
      clientId: 'c-cancel-first',
      reason: 'changed mind',
    });
    expect(cancel.status).toBe(200);
    const late = await p.b.call(
      'POST',
      '/v1/fiat/evidence',
      'olivia',
      evidenceBody(p.b, order, { bankReference: 'RACE-LATE' }),
    );
    expect(late.body.order).toMatchObject({ status: 'cancelled', exception: 'late_payment' });
    await refundLatePayment(p, order.id);
    expect(outcomes).toHaveLength(4);
  });
});

/** Refunds a cancelled order's late payment and checks nothing was ever handed to the release worker. */
async function refundLatePayment(p: Pair, id: unknown): Promise<void> {
  const r = await p.a.call('POST', `/v1/orders/${String(id)}/resolve-exception`, 'olivia', {
    resolution: 'refund',
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body).toMatchObject({ status: 'cancelled', exception: null });
  expect((r.body.release as Record<string, unknown>).idempotencyKey).toBeNull();
  const transfers = await transfersOf(p.dbA, id);
  expect(transfers.filter((x) => x.code === 'fiat_refund').map((x) => x.amount)).toEqual(['301500']);
  expect(transfers.filter((x) => x.kind === 'post_pending')).toEqual([]);
  expect(await events(p.a, id)).not.toContain('release');
}

describe('two orders racing for the last inventory on two service instances', () => {
  let p: Pair;
  beforeAll(async () => {
    p = await twoInstances(ETH);
  });
  afterAll(() => closePair(p));
  afterEach(async () => {
    await Promise.all([p.a.desk.worker.tick(), p.b.desk.worker.tick()]);
    expect(await checkLedger(p.dbA)).toEqual({ balanced: true, problems: [] });
  });

  it('inventory sold twice: two firm quotes for the last ETH accepted at once make one order; the loser keeps its quote', async () => {
    await registerClient(p.a, 'c-last-a');
    await registerClient(p.b, 'c-last-b');
    const qa = await quote(p.a, 'c-last-a', ETH);
    const qb = await quote(p.b, 'c-last-b', ETH);
    const answers = await Promise.all([
      acceptQuote(p.a, 'c-last-a', qa.token),
      acceptQuote(p.b, 'c-last-b', qb.token),
    ]);
    expect(answers.map((r) => r.status).sort(), JSON.stringify(answers.map((r) => r.body))).toEqual([
      201, 409,
    ]);
    const lost = answers.findIndex((r) => r.status === 409);
    expect(answers[lost]!.body.code).toBe('insufficient-inventory');
    expect(await availableInventory(p.dbA, 'ETH')).toBe(0n);
    const orders = await p.dbA.query<{ client_id: string }>('SELECT client_id FROM otc_orders');
    expect(orders.rows).toHaveLength(1);
    // The loser's transaction rolled back whole: its quote is still unconsumed and can be accepted later.
    const [loser, client, token] = lost === 0 ? [p.a, 'c-last-a', qa] : [p.b, 'c-last-b', qb];
    const row = await p.dbA.query<{ consumed_at: Date | null }>(
      'SELECT consumed_at FROM otc_quotes WHERE id = $1',
      [token.id],
    );
    expect(row.rows).toEqual([{ consumed_at: null }]);
    await fundInventory(p.dbA, { asset: 'ETH', amount: ETH, reference: 'race-top-up' });
    const retry = await acceptQuote(loser, client, token.token);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(await availableInventory(p.dbA, 'ETH')).toBe(0n);
  });
});
