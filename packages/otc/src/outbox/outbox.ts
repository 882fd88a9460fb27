// The outbox: every lifecycle event the desk's backend must hear about is one otc_outbox row, written in
// the transaction of the change it reports (so an event exists if and only if its change committed). The
// webhook dispatcher (webhooks/deliver.ts) delivers the rows; the row id is the event id, the same on every
// retry and resend, so the backend can deduplicate on `webhook-id`.
import { randomBytes } from 'node:crypto';
import { canonicalJson, isPlainObject, type JsonValue, toJsonValue } from '../canonical-json.ts';
import type { Queryable } from '../db/database.ts';
import { invalid } from '../errors.ts';

/** The JSON body of the webhook, as stored and as sent. */
export type EventPayload = {
  id: string;
  /** `order.created`, `order.paid`, `order.released`, `order.completed`, … (the order service decides). */
  type: string;
  createdAt: string;
  data: { [key: string]: JsonValue };
};

export type EventInput = { type: string; orderId?: string; data: Record<string, unknown> };

const EVENT_TYPE = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/;
const MAX_PAYLOAD_BYTES = 256 * 1024;

/** `evt_` and 24 hex digits (96 random bits). */
export function newEventId(): string {
  return `evt_${randomBytes(12).toString('hex')}`;
}

/**
 * Writes one event in `tx` (call it inside the transaction of the change it reports) and returns its id.
 * The event is due at once; bigint values in `data` become decimal strings.
 */
export async function enqueueEvent(
  tx: Queryable,
  input: EventInput,
  opts: { now?: () => number } = {},
): Promise<string> {
  const { type, orderId, data } = validateEvent(input);
  const createdAt = new Date(opts.now?.() ?? Date.now()).toISOString();
  const payload: EventPayload = { id: newEventId(), type, createdAt, data };
  const json = canonicalJson(payload);
  if (Buffer.byteLength(json) > MAX_PAYLOAD_BYTES)
    throw invalid('event.data', `must serialise to at most ${MAX_PAYLOAD_BYTES} bytes`);
  await tx.query(
    `INSERT INTO otc_outbox (id, type, order_id, payload, created_at, next_attempt_at)
     VALUES ($1, $2, $3, $4::jsonb, $5, $5)`,
    [payload.id, type, orderId, json, createdAt],
  );
  return payload.id;
}

function validateEvent(input: EventInput): {
  type: string;
  orderId: string | null;
  data: EventPayload['data'];
} {
  if (!isPlainObject(input)) throw invalid('event', 'must be an object');
  const { type, orderId, data } = input;
  if (typeof type !== 'string' || type.length > 100 || !EVENT_TYPE.test(type))
    throw invalid('event.type', 'must be dotted lower case of at most 100 characters, e.g. order.paid');
  if (orderId !== undefined && (typeof orderId !== 'string' || orderId.length === 0 || orderId.length > 200))
    throw invalid('event.orderId', 'must be a non-empty string of at most 200 characters');
  if (!isPlainObject(data)) throw invalid('event.data', 'must be a plain object');
  return { type, orderId: orderId ?? null, data: toJsonValue(data, 'event.data') as EventPayload['data'] };
}
