// The buy desk's HTTP flow up to the signer nodes, on both databases: a customer registered by the
// backend, a firm quote accepted into an order with payment instructions and reserved inventory, fiat
// evidence recorded by an ops maker, the order paid and waiting for release; and the refusals around it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { balance, checkLedger, fundInventory } from '../src/ledger/ledger.ts';
import { DATABASE_KINDS, freshDatabase } from './helpers/db.ts';
import { type TestDesk, testDesk } from './helpers/desk.ts';

const CUSTOMER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const ETH = 10n ** 18n;

describe.each(DATABASE_KINDS)('buy flow on %s', (kind) => {
  let db: Database;
  let t: TestDesk;

  beforeAll(async () => {
    db = await freshDatabase(kind);
    t = await testDesk(db);
    await db.transaction((tx) => fundInventory(tx, { asset: 'ETH', amount: 10n * ETH, reference: 'seed' }));
  });
  afterAll(async () => {
    await t.close();
    await db.close();
  });

  async function order(clientId: string, amount: bigint) {
    expect(
      (await t.call('PUT', `/v1/clients/${clientId}`, 'desk-backend', { kycTier: 'basic', country: 'DE' }))
        .status,
    ).toBe(200);
    const quote = await t.call('POST', '/v1/quotes', 'desk-backend', {
      clientId,
      side: 'buy',
      asset: 'ETH',
      amount: amount.toString(),
      fiatCurrency: 'USD',
      kind: 'firm',
    });
    expect(quote.status, JSON.stringify(quote.body)).toBe(201);
    const created = await t.call('POST', '/v1/orders', 'desk-backend', {
      clientId,
      quoteToken: quote.body.token,
      destination: CUSTOMER,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return { quote: quote.body, order: created.body };
  }

  it('takes a buy order from quote to paid: instructions, reservation, evidence, awaiting release', async () => {
    const { quote, order: o } = await order('c-flow', ETH);
    expect(o.status).toBe('awaiting_payment');
    expect(o.amount).toBe(ETH.toString());
    // 3,000.00 USD + 50 bps, rounded up in the desk's favour.
    expect(quote.fiatAmount).toBe('301500');
    const instructions = o.paymentInstructions as Record<string, unknown>;
    expect(instructions.amount).toBe('301500');
    expect(instructions.reference).toBe(o.paymentReference);
    expect((instructions.account as Record<string, unknown>).accountName).toBe('Coffer Desk Ltd');
    expect((await balance(db, 'house:hot:ETH')).available).toBe(9n * ETH);

    const evidence = await t.call('POST', '/v1/fiat/evidence', 'olivia', {
      paymentReference: o.paymentReference,
      bankReference: 'BANK-FLOW-1',
      amount: '301500',
      currency: 'USD',
      transferredAt: new Date(t.clock.now).toISOString(),
      sourceAccountLast4: '4821',
    });
    expect(evidence.status, JSON.stringify(evidence.body)).toBe(201);
    expect(evidence.body.outcome).toBe('paid');
    // No desk approval below the threshold: the release worker hands it to the nodes at once (here the
    // nodes are unreachable, so the order waits in releasing with its idempotency key and no request).
    await t.desk.worker.tick();
    const paid = (await t.call('GET', `/v1/orders/${o.id}`, 'olivia')).body;
    expect(paid.status).toBe('releasing');
    expect(paid.release).toMatchObject({ idempotencyKey: `otc:${o.id}:release`, requestId: null });
    const events = (await t.call('GET', `/v1/orders/${o.id}/events`, 'audrey')).body.events as {
      event: string;
      toStatus: string;
    }[];
    expect(events.map((e) => e.toStatus)).toEqual([
      'quoted',
      'compliance_check',
      'awaiting_payment',
      'awaiting_payment',
      'paid',
      'awaiting_release',
      'releasing',
    ]);
    expect(await checkLedger(db)).toEqual({ balanced: true, problems: [] });
  });

  it('refuses a reused firm quote (quote-used) and a tampered one (quote-invalid), writing no order', async () => {
    const { quote } = await order('c-reuse', ETH / 10n);
    const again = await t.call('POST', '/v1/orders', 'desk-backend', {
      clientId: 'c-reuse',
      quoteToken: quote.token,
      destination: CUSTOMER,
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('quote-used');
    const token = String(quote.token);
    const tampered = `${token.slice(0, -2)}${token.endsWith('A') ? 'B' : 'A'}${token.slice(-1)}`;
    const forged = await t.call('POST', '/v1/orders', 'desk-backend', {
      clientId: 'c-reuse',
      quoteToken: tampered,
      destination: CUSTOMER,
    });
    expect([409, 422]).toContain(forged.status);
    const list = (await t.call('GET', '/v1/orders?clientId=c-reuse', 'desk-backend')).body
      .orders as unknown[];
    expect(list).toHaveLength(1);
  });

  it('refuses a Bitcoin order with unsupported-chain until the nodes build Bitcoin transfers', async () => {
    await t.call('PUT', '/v1/clients/c-btc', 'desk-backend', { kycTier: 'basic', country: 'DE' });
    const quote = await t.call('POST', '/v1/quotes', 'desk-backend', {
      clientId: 'c-btc',
      side: 'buy',
      asset: 'BTC',
      amount: '10000',
      fiatCurrency: 'USD',
      kind: 'firm',
    });
    expect(quote.status).toBe(201);
    const created = await t.call('POST', '/v1/orders', 'desk-backend', {
      clientId: 'c-btc',
      quoteToken: quote.body.token,
      destination: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080',
    });
    expect(created.status).toBe(422);
    expect(created.body).toMatchObject({ code: 'unsupported-chain', field: 'asset' });
  });

  it('names the field of a malformed order and writes nothing', async () => {
    const bad = await t.call('POST', '/v1/orders', 'desk-backend', {
      clientId: 'c-flow',
      quoteToken: 'x',
      destination: 'not an address!',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('destination');
  });
});
