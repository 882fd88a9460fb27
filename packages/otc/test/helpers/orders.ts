// Order helpers for the money-loss and bad-input suites: register a customer, get a firm quote, accept it,
// record fiat evidence as an ops maker, sign a fiat-rail webhook the way the rail does (standardwebhooks),
// and count the rows of the tables that hold money so a refused request can be shown to have written none.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { expect } from 'vitest';
import type { Queryable } from '../../src/db/database.ts';
import type { TestDesk } from './desk.ts';

export const CUSTOMER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
export const ETH = 10n ** 18n;

type Body = Record<string, unknown>;

export async function registerClient(t: TestDesk, clientId: string, kycTier = 'basic'): Promise<void> {
  const r = await t.call('PUT', `/v1/clients/${clientId}`, 'desk-backend', { kycTier, country: 'DE' });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

/** A quote for `amount` wei of ETH in USD (201 expected). */
export async function quote(
  t: TestDesk,
  clientId: string,
  amount: bigint,
  kind: 'firm' | 'indicative' = 'firm',
): Promise<Body> {
  const r = await t.call('POST', '/v1/quotes', 'desk-backend', {
    clientId,
    side: 'buy',
    asset: 'ETH',
    amount: amount.toString(),
    fiatCurrency: 'USD',
    kind,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

export async function acceptQuote(t: TestDesk, clientId: string, token: unknown) {
  return t.call('POST', '/v1/orders', 'desk-backend', { clientId, quoteToken: token, destination: CUSTOMER });
}

/** A registered client's order for `amount` wei, waiting for payment. */
export async function placeOrder(
  t: TestDesk,
  clientId: string,
  amount: bigint,
  kycTier = 'basic',
): Promise<{ quote: Body; order: Body }> {
  await registerClient(t, clientId, kycTier);
  const q = await quote(t, clientId, amount);
  const created = await acceptQuote(t, clientId, q.token);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect(created.body.status).toBe('awaiting_payment');
  return { quote: q, order: created.body };
}

/** The body of POST /v1/fiat/evidence for `order` (the order's exact amount, transferred now by default). */
export function evidenceBody(
  t: TestDesk,
  order: Body,
  o: { bankReference: string; amount?: bigint | string; atMs?: number },
): Body {
  return {
    paymentReference: order.paymentReference,
    bankReference: o.bankReference,
    amount: String(o.amount ?? order.fiatAmount),
    currency: 'USD',
    transferredAt: new Date(o.atMs ?? t.clock.now).toISOString(),
    sourceAccountLast4: '4821',
  };
}

export async function recordEvidence(
  t: TestDesk,
  order: Body,
  o: { bankReference: string; amount?: bigint | string; atMs?: number },
) {
  return t.call('POST', '/v1/fiat/evidence', 'olivia', evidenceBody(t, order, o));
}

export async function getOrder(t: TestDesk, id: unknown): Promise<Body> {
  const r = await t.call('GET', `/v1/orders/${String(id)}`, 'olivia');
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

/** The order's ledger transfers as (code, kind, amount) in the order they were written. */
export async function transfersOf(
  q: Queryable,
  orderId: unknown,
): Promise<{ id: string; code: string; kind: string; amount: string }[]> {
  const r = await q.query<{ id: string; code: string; kind: string; amount: string }>(
    'SELECT id, code, kind, amount::text AS amount FROM otc_transfers WHERE order_id = $1 ORDER BY created_at, id',
    [orderId],
  );
  return r.rows;
}

export async function evidenceOf(
  q: Queryable,
  orderId: unknown,
): Promise<{ bank_reference: string; amount: string }[]> {
  const r = await q.query<{ bank_reference: string; amount: string }>(
    'SELECT bank_reference, amount_minor::text AS amount FROM otc_fiat_evidence WHERE order_id = $1 ORDER BY recorded_at, id',
    [orderId],
  );
  return r.rows;
}

/** Tables a refused request must leave untouched. */
export const MONEY_TABLES = [
  'otc_orders',
  'otc_order_events',
  'otc_quotes',
  'otc_fiat_evidence',
  'otc_transfers',
  'otc_clients',
  'otc_freezes',
  'otc_inbound_webhooks',
] as const;

export async function countRows(
  q: Queryable,
  tables: readonly string[] = MONEY_TABLES,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of tables) {
    const r = await q.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
    out[table] = Number(r.rows[0]?.n ?? 0);
  }
  return out;
}

/** A payment notice as the fiat rail sends it. */
export function fiatNotice(data: Body, top: Body = {}): string {
  return JSON.stringify({ type: 'payment.received', data, ...top });
}

/** The rail's Standard Webhooks headers for `payload`, signed with `secret` at `atMs`. */
export function railHeaders(
  payload: string,
  secret: string,
  atMs: number,
  id = `msg_${randomBytes(8).toString('hex')}`,
): Record<string, string> {
  const at = new Date(atMs);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, payload),
  };
}

/** Delivers a fiat-rail webhook to the desk; signed with the desk's inbound secret unless headers are given. */
export async function sendFiatWebhook(
  t: TestDesk,
  payload: string,
  headers: Record<string, string> = railHeaders(payload, t.dev.inboundWebhookSecret, t.clock.now),
): Promise<{ status: number; body: Body }> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/webhooks/fiat',
    headers: { 'content-type': 'application/json', ...headers },
    payload,
  });
  return { status: res.statusCode, body: JSON.parse(res.body) as Body };
}
