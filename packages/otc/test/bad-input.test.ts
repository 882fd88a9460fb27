// Bad input on every POST and PUT route of the OTC service, table-driven, on both databases: each required
// field missing, each field of the wrong type or not matching its pattern, an unknown field, a bad path
// id → 400 naming the field; a POST without Idempotency-Key → 400 naming the header; the same key with
// another body → 409; and nothing written by any of them (rows counted in the tables that hold orders,
// quotes, evidence, transfers, clients, freezes, webhooks, audit entries and idempotency keys). The
// fiat rail's webhook has its own table: correctly signed notices with one bad field each.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { checkLedger, fundInventory } from '../src/ledger/ledger.ts';
import { DATABASE_KINDS, freshDatabase } from './helpers/db.ts';
import { type TestDesk, testDesk } from './helpers/desk.ts';
import {
  CUSTOMER,
  countRows,
  ETH,
  fiatNotice,
  MONEY_TABLES,
  railHeaders,
  sendFiatWebhook,
} from './helpers/orders.ts';

/** A well-formed order id no order has. */
const ORD = `ord_${'0'.repeat(24)}`;
const ALL_TABLES = [...MONEY_TABLES, 'otc_audit', 'otc_compliance_decisions', 'otc_idempotency'];

type Route = {
  method: 'POST' | 'PUT';
  path: string;
  who: string;
  /** A body the schema accepts. */
  valid: Record<string, unknown>;
  required: string[];
  /** Per field, a value of the wrong JSON type. */
  wrongType: Record<string, unknown>;
  /** Per field, values of the right type that break its pattern, enum or length. */
  badValue: Record<string, unknown[]>;
  /** Per field, values the schema lets through and the service refuses (400 stored under the key). */
  refusedValue?: Record<string, unknown[]>;
  /** A path whose id breaks its pattern (the field is `id`). */
  badPath?: string;
  /** Only POST: a schema-valid body the service refuses (4xx) without writing anything. */
  refused?: { body: Record<string, unknown>; status: number };
};

const ROUTES: Record<string, Route> = {
  clients: {
    method: 'PUT',
    path: '/v1/clients/c-bad-input',
    who: 'desk-backend',
    valid: { kycTier: 'basic', country: 'DE', status: 'active' },
    required: ['kycTier', 'country'],
    wrongType: { kycTier: 1, country: 49, status: true },
    badValue: { kycTier: ['Basic Tier!', ''], country: ['deu', 'D'], status: ['closed'] },
    badPath: '/v1/clients/-bad',
  },
  quotes: {
    method: 'POST',
    path: '/v1/quotes',
    who: 'desk-backend',
    valid: {
      clientId: 'c-none',
      side: 'buy',
      asset: 'ETH',
      amount: '1000',
      fiatCurrency: 'USD',
      kind: 'firm',
    },
    required: ['clientId', 'side', 'asset', 'amount', 'fiatCurrency', 'kind'],
    wrongType: { clientId: 5, side: 1, asset: 1, amount: 1000, fiatCurrency: 840, kind: true },
    badValue: {
      clientId: ['-x', 'has space'],
      side: ['hold'],
      asset: ['eth'],
      amount: ['0', '-1', '1.5', '1e18', '01'],
      fiatCurrency: ['usd', 'US'],
      kind: ['binding'],
    },
    refused: {
      body: {
        clientId: 'c-none',
        side: 'buy',
        asset: 'ETH',
        amount: '1000',
        fiatCurrency: 'USD',
        kind: 'firm',
      },
      status: 404,
    },
  },
  orders: {
    method: 'POST',
    path: '/v1/orders',
    who: 'desk-backend',
    valid: { clientId: 'c-none', quoteToken: 'q_x', destination: CUSTOMER },
    required: ['clientId', 'quoteToken', 'destination'],
    wrongType: { clientId: 1, quoteToken: 5, destination: 5 },
    badValue: { clientId: ['.x'], quoteToken: ['', 'x'.repeat(513)], destination: ['not an address!', ''] },
    refused: { body: { clientId: 'c-none', quoteToken: 'q_x', destination: CUSTOMER }, status: 422 },
  },
  'claim-payment': {
    method: 'POST',
    path: `/v1/orders/${ORD}/claim-payment`,
    who: 'desk-backend',
    valid: { clientId: 'c-none' },
    required: ['clientId'],
    wrongType: { clientId: 1 },
    badValue: { clientId: ['.x'] },
    badPath: '/v1/orders/ord_bad/claim-payment',
    refused: { body: { clientId: 'c-none' }, status: 404 },
  },
  cancel: {
    method: 'POST',
    path: `/v1/orders/${ORD}/cancel`,
    who: 'desk-backend',
    valid: { clientId: 'c-none', reason: 'changed mind' },
    required: ['reason'],
    wrongType: { clientId: 1, reason: 5 },
    badValue: { clientId: ['.x'], reason: ['', 'x'.repeat(501)] },
    badPath: `/v1/orders/${ORD.toUpperCase()}/cancel`,
    refused: { body: { clientId: 'c-none', reason: 'changed mind' }, status: 404 },
  },
  'fiat/evidence': {
    method: 'POST',
    path: '/v1/fiat/evidence',
    who: 'olivia',
    valid: {
      paymentReference: 'CFNOSUCHREF',
      bankReference: 'BANK-BAD-1',
      amount: '301500',
      currency: 'USD',
      transferredAt: '2025-01-31T09:30:00Z',
      sourceAccountLast4: '4821',
    },
    required: ['paymentReference', 'bankReference', 'amount', 'currency', 'transferredAt'],
    wrongType: {
      paymentReference: 1,
      bankReference: 1,
      amount: 301500,
      currency: 840,
      transferredAt: 1738315800000,
      sourceAccountLast4: 4821,
    },
    badValue: {
      paymentReference: ['cf-lower', 'CF1'],
      bankReference: ['has space', ''],
      amount: ['0', '-100', '3015.00', '0x10'],
      currency: ['usd'],
      transferredAt: ['2025-01-31 09:30:00', '2025-01-31T09:30:00+01:00', '2025-01-31'],
      sourceAccountLast4: ['1', '12-4'],
    },
    refused: {
      body: {
        paymentReference: 'CFNOSUCHREF',
        bankReference: 'BANK-BAD-1',
        amount: '301500',
        currency: 'USD',
        transferredAt: '2025-01-31T09:30:00Z',
      },
      status: 404,
    },
  },
  'confirm-payment': {
    method: 'POST',
    path: `/v1/orders/${ORD}/confirm-payment`,
    who: 'olivia',
    valid: {},
    required: [],
    wrongType: {},
    badValue: {},
    badPath: '/v1/orders/1/confirm-payment',
    refused: { body: {}, status: 404 },
  },
  'desk-approval': {
    method: 'POST',
    path: `/v1/orders/${ORD}/desk-approval`,
    who: 'oscar',
    valid: {},
    required: [],
    wrongType: {},
    badValue: {},
    badPath: '/v1/orders/ord_%27%20OR%201=1/desk-approval',
    refused: { body: {}, status: 404 },
  },
  'resolve-exception': {
    method: 'POST',
    path: `/v1/orders/${ORD}/resolve-exception`,
    who: 'olivia',
    valid: { resolution: 'refund', reason: 'customer asked' },
    required: ['resolution'],
    wrongType: { resolution: 1, quoteToken: 5, reason: 5 },
    badValue: { resolution: ['refund_all', ''], quoteToken: [''], reason: [''] },
    badPath: '/v1/orders/ord_/resolve-exception',
    refused: { body: { resolution: 'refund', reason: 'customer asked' }, status: 404 },
  },
  'compliance-decision': {
    method: 'POST',
    path: `/v1/orders/${ORD}/compliance-decision`,
    who: 'carla',
    valid: { pass: true, reason: 'screened by hand' },
    required: ['pass', 'reason'],
    wrongType: { pass: 'yes', reason: 5 },
    badValue: { reason: [''] },
    badPath: '/v1/orders/order-1/compliance-decision',
    refused: { body: { pass: false, reason: 'screened by hand' }, status: 404 },
  },
  'retry-release': {
    method: 'POST',
    path: `/v1/orders/${ORD}/retry-release`,
    who: 'adam',
    valid: {},
    required: [],
    wrongType: {},
    badValue: {},
    badPath: '/v1/orders/ord_zz/retry-release',
    refused: { body: {}, status: 404 },
  },
  freezes: {
    method: 'POST',
    path: '/v1/freezes',
    who: 'adam',
    valid: { scope: 'desk', reason: 'drill' },
    required: ['scope', 'reason'],
    wrongType: { scope: 1, reason: 5 },
    badValue: { scope: ['x'.repeat(81)], reason: [''] },
    refusedValue: { scope: ['everything', 'asset:eth', 'client:'] },
    refused: { body: { scope: 'asset:eth', reason: 'drill' }, status: 400 },
  },
  'freezes/lift': {
    method: 'POST',
    path: '/v1/freezes/lift',
    who: 'adam',
    valid: { scope: 'desk', reason: 'drill over' },
    required: ['scope', 'reason'],
    wrongType: { scope: ['desk'], reason: null },
    badValue: { scope: ['x'.repeat(81)], reason: [''] },
    refusedValue: { scope: ['nothing', 'asset:'] },
    refused: { body: { scope: 'nothing', reason: 'drill over' }, status: 400 },
  },
  'inventory/funding': {
    method: 'POST',
    path: '/v1/inventory/funding',
    who: 'adam',
    valid: { asset: 'DOGE', amount: '1000', reference: 'fund-bad-1', txHash: '0xabc' },
    required: ['asset', 'amount', 'reference'],
    wrongType: { asset: 1, amount: 1000, reference: 1, txHash: 1 },
    badValue: { asset: ['doge'], amount: ['0', '-5', '1.0'], reference: ['has space', ''], txHash: [''] },
    refused: { body: { asset: 'DOGE', amount: '1000', reference: 'fund-bad-1' }, status: 400 },
  },
};

/** `stored`: the schema accepted it, so the refusal is kept under its Idempotency-Key (one row). */
type Case = { name: string; route: Route; path: string; body: unknown; field: string; stored: boolean };

function without(body: Record<string, unknown>, field: string): Record<string, unknown> {
  const copy = { ...body };
  delete copy[field];
  return copy;
}

/** Every bad request of every route, each with the field its 400 must name. */
function badRequests(): Case[] {
  const cases: Case[] = [];
  for (const [name, route] of Object.entries(ROUTES)) {
    const add = (what: string, body: unknown, field: string, path = route.path, stored = false) =>
      cases.push({ name: `${route.method} ${name}: ${what}`, route, path, body, field, stored });
    for (const f of route.required) add(`${f} missing`, without(route.valid, f), f);
    for (const [f, v] of Object.entries(route.wrongType))
      add(`${f} of the wrong type`, { ...route.valid, [f]: v }, f);
    for (const [f, values] of Object.entries(route.badValue))
      for (const v of values) add(`${f} ${JSON.stringify(v).slice(0, 30)}`, { ...route.valid, [f]: v }, f);
    for (const [f, values] of Object.entries(route.refusedValue ?? {}))
      for (const v of values)
        add(`${f} ${JSON.stringify(v)}`, { ...route.valid, [f]: v }, f, route.path, true);
    add('an unknown field', { ...route.valid, surprise: 1 }, 'surprise');
    add('a body that is not an object', [route.valid], 'body');
    if (route.badPath !== undefined) add('a malformed id in the path', route.valid, 'id', route.badPath);
  }
  return cases;
}

const POSTS = Object.entries(ROUTES).filter(([, r]) => r.method === 'POST' && r.refused !== undefined);

describe.each(DATABASE_KINDS)('bad input on %s', (kind) => {
  let db: Database;
  let t: TestDesk;
  let before: Record<string, number>;

  beforeAll(async () => {
    db = await freshDatabase(kind);
    t = await testDesk(db);
    await fundInventory(db, { asset: 'ETH', amount: ETH, reference: 'bad-input-seed' });
  });
  afterAll(async () => {
    await t.close();
    await db.close();
  });
  afterEach(async () => {
    expect(await checkLedger(db)).toEqual({ balanced: true, problems: [] });
  });

  it.each(badRequests())('$name → 400 naming $field, nothing written', async (c) => {
    before = await countRows(db, ALL_TABLES);
    const r = await t.call(c.route.method, c.path, c.route.who, c.body);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.code).toBe('invalid-request');
    expect(r.body.field).toBe(c.field);
    expect(String(r.body.message)).toContain(c.field);
    // An invalid request writes nothing, not even an idempotency key or an audit entry; a request the
    // service refused after the schema keeps only its stored answer.
    const after = await countRows(db, ALL_TABLES);
    expect(after).toEqual({ ...before, otc_idempotency: before.otc_idempotency! + (c.stored ? 1 : 0) });
  });

  it.each(POSTS)(
    'POST %s without Idempotency-Key → 400 naming the header, nothing written',
    async (_, route) => {
      before = await countRows(db, ALL_TABLES);
      const res = await t.app.inject({
        method: 'POST',
        url: route.path,
        headers: { authorization: `Bearer ${t.dev.tokens[route.who]}`, 'content-type': 'application/json' },
        payload: JSON.stringify(route.refused!.body),
      });
      expect(res.statusCode).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'invalid-request', field: 'Idempotency-Key' });
      expect(await countRows(db, ALL_TABLES)).toEqual(before);
    },
  );

  it.each(POSTS)(
    'POST %s: the same Idempotency-Key with another body → 409, the refusal replayed, nothing written',
    async (_, route) => {
      const key = { 'idempotency-key': `bad-input-${randomBytes(6).toString('hex')}` };
      const refused = route.refused!;
      before = await countRows(db, MONEY_TABLES);
      const first = await t.call('POST', route.path, route.who, refused.body, key);
      expect(first.status, JSON.stringify(first.body)).toBe(refused.status);
      const again = await t.call('POST', route.path, route.who, refused.body, key);
      expect([again.status, again.headers['idempotent-replayed']]).toEqual([refused.status, 'true']);
      expect(again.body).toEqual(first.body);
      const o = otherRequest(route);
      const other = await t.call('POST', o.path, route.who, o.body, key);
      expect(other.status, JSON.stringify(other.body)).toBe(409);
      expect(other.body).toMatchObject({ code: 'idempotency-conflict', field: 'Idempotency-Key' });
      expect(await countRows(db, MONEY_TABLES)).toEqual(before);
    },
  );

  describe('the fiat rail webhook', () => {
    const valid = () => ({
      paymentReference: 'CFNOSUCHREF',
      bankReference: 'BANK-HOOK-BAD',
      amount: '301500',
      currency: 'USD',
      transferredAt: new Date(t.clock.now).toISOString(),
      sourceAccountLast4: '4821',
    });
    const notices: [string, (d: Record<string, unknown>) => string, string][] = [
      ...['paymentReference', 'bankReference', 'amount', 'currency', 'transferredAt'].map(
        (f): [string, (d: Record<string, unknown>) => string, string] => [
          `${f} missing`,
          (d) => fiatNotice(without(d, f)),
          `data.${f}`,
        ],
      ),
      ['amount as a JSON number', (d) => fiatNotice({ ...d, amount: 301500 }), 'data.amount'],
      ['amount with a decimal point', (d) => fiatNotice({ ...d, amount: '3015.00' }), 'data.amount'],
      ['amount zero', (d) => fiatNotice({ ...d, amount: '0' }), 'data.amount'],
      ['currency as a number', (d) => fiatNotice({ ...d, currency: 840 }), 'data.currency'],
      ['currency in lower case', (d) => fiatNotice({ ...d, currency: 'usd' }), 'data.currency'],
      [
        'paymentReference as a number',
        (d) => fiatNotice({ ...d, paymentReference: 5 }),
        'data.paymentReference',
      ],
      [
        'bankReference with a space',
        (d) => fiatNotice({ ...d, bankReference: 'has space' }),
        'data.bankReference',
      ],
      [
        'transferredAt without a time',
        (d) => fiatNotice({ ...d, transferredAt: '2025-01-31' }),
        'data.transferredAt',
      ],
      [
        'transferredAt in the future',
        (d) => fiatNotice({ ...d, transferredAt: new Date(t.clock.now + 3_600_000).toISOString() }),
        'data.transferredAt',
      ],
      [
        'sourceAccountLast4 too short',
        (d) => fiatNotice({ ...d, sourceAccountLast4: '12' }),
        'data.sourceAccountLast4',
      ],
      ['an unknown data field', (d) => fiatNotice({ ...d, iban: 'DE00' }), 'data.iban'],
      ['an unknown top-level field', (d) => fiatNotice(d, { surprise: 1 }), 'surprise'],
      ['another notice type', (d) => fiatNotice(d, { type: 'payment.sent' }), 'type'],
      ['data that is not an object', () => fiatNotice([] as never), 'data'],
    ];

    it.each(notices)(
      'a signed notice with %s → 400 naming %s; the webhook id is not burned',
      async (_, make, field) => {
        before = await countRows(db, ALL_TABLES);
        const payload = make(valid());
        const headers = railHeaders(payload, t.dev.inboundWebhookSecret, t.clock.now);
        const r = await sendFiatWebhook(t, payload, headers);
        expect(r.status, JSON.stringify(r.body)).toBe(400);
        expect(r.body).toMatchObject({ code: 'invalid-request', field });
        expect(await countRows(db, ALL_TABLES)).toEqual(before);
      },
    );

    it('an unsigned or stale notice → 401 naming the header, nothing written', async () => {
      before = await countRows(db, ALL_TABLES);
      const payload = fiatNotice(valid());
      const unsigned = await sendFiatWebhook(t, payload, {});
      expect(unsigned).toMatchObject({ status: 401, body: { code: 'webhook-invalid', field: 'webhook-id' } });
      const stale = await sendFiatWebhook(
        t,
        payload,
        railHeaders(payload, t.dev.inboundWebhookSecret, t.clock.now - 600_000),
      );
      expect(stale).toMatchObject({
        status: 401,
        body: { code: 'webhook-invalid', field: 'webhook-timestamp' },
      });
      const notJson = await sendFiatWebhook(
        t,
        '{"type":',
        railHeaders('{"type":', t.dev.inboundWebhookSecret, t.clock.now),
      );
      expect(notJson.status).toBe(400);
      expect(await countRows(db, ALL_TABLES)).toEqual(before);
    });
  });
});

/**
 * A schema-valid request unlike `route.refused`, for the same-key check: another body, or (for the
 * routes whose body is always `{}`) the same body for another order.
 */
function otherRequest(route: Route): { path: string; body: Record<string, unknown> } {
  const body = route.refused!.body;
  const change = (patch: Record<string, unknown>) => ({ path: route.path, body: { ...body, ...patch } });
  if ('reason' in body) return change({ reason: 'another reason' });
  if ('amount' in body) return change({ amount: '2000' });
  if ('clientId' in body) return change({ clientId: 'c-other' });
  return { path: route.path.replace(ORD, `ord_${'1'.repeat(24)}`), body };
}
