// Inbound fiat-rail webhooks: a payment notice from the bank rail, authenticated in the Standard Webhooks
// format (HMAC-SHA256 over `webhook-id.webhook-timestamp.body`, computed by the standardwebhooks library),
// fresh (timestamp within the tolerance, 5 minutes by default), never accepted twice (`webhook-id` recorded
// in otc_inbound_webhooks, whose PRIMARY KEY decides between concurrent deliveries), and parsed strictly.
//
// Choice: the id is recorded in the CALLER's transaction — `verifyInbound(tx, …)` refuses a bare Database —
// so the id and what the caller does with the notice (evidence, confirmation, exception) commit together.
// If the processing throws, the transaction rolls back, the id is not burned and the rail's retry of the
// same webhook is accepted. A second delivery racing the first waits on the primary key until the first
// commits (then it is a replay) or rolls back (then it proceeds). A notice that is authentic but cannot be
// applied (no matching order) should be committed with an outcome saying so (recordInboundOutcome), not
// thrown, or the rail will keep retrying it.
import { timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { isPlainObject } from '../canonical-json.ts';
import type { Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';
import { parseAmount } from '../money.ts';
import { validateWebhookSecret } from './deliver.ts';

export type InboundConfig = { secret: string; toleranceSeconds?: number };
export type WebhookHeaders = Record<string, string | string[] | undefined>;

/** A fiat payment the rail reports; amounts in minor units of `currency`. */
export type FiatPaymentNotice = {
  webhookId: string;
  type: 'payment.received';
  paymentReference: string;
  bankReference: string;
  amountMinor: bigint;
  currency: string;
  /** ISO-8601 as sent (with its offset). */
  transferredAt: string;
  sourceAccountLast4?: string;
};

export const DEFAULT_TOLERANCE_SECONDS = 300;
const MAX_BODY_BYTES = 64 * 1024;
const MAX_SIGNATURES = 8;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

/**
 * Authenticates, deduplicates and parses one fiat-rail webhook inside the caller's transaction `tx`.
 * Forged, unsigned or stale → `webhook-invalid`; an id seen before → `webhook-replayed`; a malformed
 * notice → `invalid-request` naming the field.
 */
export async function verifyInbound(
  tx: Queryable,
  config: InboundConfig,
  rawBody: string,
  headers: WebhookHeaders,
  opts: { now?: () => number } = {},
): Promise<FiatPaymentNotice> {
  if ('transaction' in tx)
    throw new OtcError('internal', 'verifyInbound must run inside the caller’s transaction, not on the pool');
  const now = opts.now?.() ?? Date.now();
  const { webhookId, body } = authenticateInbound(config, rawBody, headers, now);
  const notice = parsePaymentNotice(body, webhookId, now, tolerance(config));
  const r = await tx.query(
    `INSERT INTO otc_inbound_webhooks (webhook_id, payload, outcome) VALUES ($1, $2::jsonb, 'received')
     ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id`,
    [webhookId, JSON.stringify(body)],
  );
  if (r.rows.length === 0)
    throw new OtcError('webhook-replayed', `webhook ${webhookId} was already received`, 'webhook-id');
  return notice;
}

/** Records what became of an accepted webhook (`confirmed`, `payment_exception`, `unmatched`, …). */
export async function recordInboundOutcome(tx: Queryable, webhookId: string, outcome: string): Promise<void> {
  if (!/^[a-z][a-z0-9_]{0,63}$/.test(outcome))
    throw invalid('outcome', 'must be snake_case, at most 64 characters');
  const r = await tx.query('UPDATE otc_inbound_webhooks SET outcome = $2 WHERE webhook_id = $1', [
    webhookId,
    outcome,
  ]);
  if (r.rowCount !== 1) throw new OtcError('not-found', `no inbound webhook ${webhookId}`, 'webhookId');
}

function tolerance(config: InboundConfig): number {
  const t = config.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isSafeInteger(t) || t < 1 || t > 3600)
    throw invalid('webhooks.inbound.toleranceSeconds', 'must be an integer from 1 to 3600');
  return t;
}

/**
 * Checks headers, freshness and signature (no database): the HMAC is the library's `sign`, compared in
 * constant time. Not the library's `verify`, whose 5-minute window and clock are fixed: the tolerance is
 * configurable here and the clock injected.
 */
export function authenticateInbound(
  config: InboundConfig,
  rawBody: string,
  headers: WebhookHeaders,
  nowMs: number,
): { webhookId: string; body: unknown } {
  validateWebhookSecret(config.secret, 'webhooks.inbound.secret');
  if (typeof rawBody !== 'string') throw invalid('body', 'must be the raw request body as a string');
  if (Buffer.byteLength(rawBody) > MAX_BODY_BYTES)
    throw rejected('body', `larger than ${MAX_BODY_BYTES} bytes`);
  const webhookId = header(headers, 'webhook-id');
  if (webhookId.length > 256 || !VISIBLE_ASCII.test(webhookId))
    throw rejected('webhook-id', 'must be 1 to 256 visible ASCII characters');
  const timestamp = header(headers, 'webhook-timestamp');
  if (!/^[0-9]{1,12}$/.test(timestamp))
    throw rejected('webhook-timestamp', 'must be whole seconds since 1970');
  const skew = Math.abs(nowMs / 1000 - Number(timestamp));
  if (skew > tolerance(config))
    throw rejected('webhook-timestamp', `outside the ${tolerance(config)} s tolerance (stale or replayed)`);
  const expected = Buffer.from(
    new Webhook(config.secret).sign(webhookId, new Date(Number(timestamp) * 1000), rawBody),
  );
  const offered = header(headers, 'webhook-signature')
    .split(' ')
    .filter((s) => s !== '');
  if (offered.length > MAX_SIGNATURES)
    throw rejected('webhook-signature', `more than ${MAX_SIGNATURES} signatures`);
  const matches = offered.some((s) => {
    const b = Buffer.from(s);
    return b.length === expected.length && timingSafeEqual(b, expected);
  });
  if (!matches)
    throw rejected('webhook-signature', 'no signature matches (forged, altered or another secret)');
  try {
    return { webhookId, body: JSON.parse(rawBody) };
  } catch {
    throw invalid('body', 'must be JSON');
  }
}

function header(headers: WebhookHeaders, name: string): string {
  const values = Object.entries(headers).filter(([k]) => k.toLowerCase() === name);
  const value = values.length === 1 ? values[0]![1] : undefined;
  if (typeof value !== 'string' || value.length === 0)
    throw rejected(name, 'missing or given more than once');
  return value;
}

function rejected(field: string, reason: string): OtcError {
  return new OtcError('webhook-invalid', `${field}: ${reason}`, field);
}

const NOTICE_KEYS = new Set(['type', 'timestamp', 'data']);
const DATA_KEYS = new Set([
  'paymentReference',
  'bankReference',
  'amount',
  'currency',
  'transferredAt',
  'sourceAccountLast4',
]);

/** The notice, field by field; unknown fields are refused (a rail's new field is read on purpose, not by accident). */
export function parsePaymentNotice(
  body: unknown,
  webhookId: string,
  nowMs: number,
  toleranceSeconds: number,
): FiatPaymentNotice {
  if (!isPlainObject(body)) throw invalid('body', 'must be a JSON object');
  for (const k of Object.keys(body)) if (!NOTICE_KEYS.has(k)) throw invalid(k, 'unknown field');
  if (body.type !== 'payment.received') throw invalid('type', 'must be payment.received');
  if (body.timestamp !== undefined) isoTime(body.timestamp, 'timestamp');
  const data = body.data;
  if (!isPlainObject(data)) throw invalid('data', 'must be an object');
  for (const k of Object.keys(data)) if (!DATA_KEYS.has(k)) throw invalid(`data.${k}`, 'unknown field');
  const transferredAt = isoTime(data.transferredAt, 'data.transferredAt');
  if (Date.parse(transferredAt) > nowMs + toleranceSeconds * 1000)
    throw invalid('data.transferredAt', 'is in the future');
  const last4 = data.sourceAccountLast4;
  if (last4 !== undefined && (typeof last4 !== 'string' || !/^[0-9A-Za-z]{4}$/.test(last4)))
    throw invalid('data.sourceAccountLast4', 'must be 4 letters or digits');
  return {
    webhookId,
    type: 'payment.received',
    paymentReference: reference(data.paymentReference, 'data.paymentReference', 64),
    bankReference: reference(data.bankReference, 'data.bankReference', 128),
    amountMinor: parseAmount(data.amount, 'data.amount'),
    currency: currency(data.currency),
    transferredAt,
    ...(last4 !== undefined ? { sourceAccountLast4: last4 as string } : {}),
  };
}

function reference(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || !VISIBLE_ASCII.test(value))
    throw invalid(field, `must be 1 to ${max} visible ASCII characters`);
  return value;
}

function currency(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Z]{3}$/.test(value))
    throw invalid('data.currency', 'must be an ISO 4217 code (three capital letters)');
  return value;
}

/** An ISO-8601 date-time with an offset, naming a real calendar day. */
function isoTime(value: unknown, field: string): string {
  const m = typeof value === 'string' ? ISO_8601.exec(value) : null;
  if (m === null) throw invalid(field, 'must be an ISO-8601 date-time with an offset (2025-01-31T09:30:00Z)');
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) throw invalid(field, 'is not a calendar date');
  return value as string;
}
