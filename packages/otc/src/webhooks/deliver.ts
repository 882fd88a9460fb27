// Outbound lifecycle webhooks: the dispatcher takes due outbox rows and POSTs each to the desk's backend,
// signed in the Standard Webhooks format (`webhook-id` = the event id, stable across retries and resends;
// `webhook-timestamp`; `webhook-signature` by the standardwebhooks library). Every attempt is logged in
// otc_webhook_deliveries; failures are retried on the schedule of schedule.ts, then marked failed.
//
// Claiming a row is one statement (`FOR UPDATE SKIP LOCKED` on the due rows, then attempts + 1 and a lease:
// next_attempt_at moved past the request timeout). A second instance on the same server therefore skips
// the row while it is being claimed and finds it not due while it is being delivered — no attempt is ever
// made twice at once, and no transaction stays open during the HTTP request (PGlite has one connection,
// which a long transaction would block). If the instance dies mid-attempt the lease runs out and another
// one retries: delivery is at least once, and the receiver deduplicates on `webhook-id`.
import { inspect } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { canonicalJson } from '../canonical-json.ts';
import type { Database, Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';
import { jitteredDelayMs, MAX_DELIVERY_ATTEMPTS } from './schedule.ts';

export type OutboundConfig = { url: string; secret: string; timeoutMs: number };

export type DispatcherOptions = {
  db: Database;
  /** `webhooks.outbound` of the configuration. */
  config: OutboundConfig;
  /** Clock in ms (tests pass a fake one); schedules, leases and `webhook-timestamp` use it. */
  now?: () => number;
  /** Source of jitter in [0, 1). */
  random?: () => number;
  /** Rows claimed per run (default 10); they are delivered in parallel. */
  batchSize?: number;
  /** Wait between runs that found nothing to do (default 1000 ms). */
  pollIntervalMs?: number;
  /** Errors of the background loop (database unreachable, …); it keeps running. */
  onError?: (e: unknown) => void;
};

export type RunReport = { attempted: number; delivered: number; retrying: number; failed: number };

type Claimed = { id: string; payload: unknown; attempt: number };
type Outcome = { statusCode: number | null; error: string | null; durationMs: number };

/** Time beyond the request timeout before a claimed row is due again (an instance that died mid-attempt). */
const LEASE_MARGIN_MS = 30_000;
const MAX_ERROR_CHARS = 200;

export class WebhookDispatcher {
  private readonly db: Database;
  private readonly config: OutboundConfig;
  private readonly webhook: Webhook;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  /** The dispatcher holds the outbound secret: printing it shows where it delivers, never the secret. */
  toJSON(): Record<string, unknown> {
    return { url: this.config.url, secret: '<redacted>' };
  }

  [inspect.custom](): string {
    return `WebhookDispatcher ${JSON.stringify(this.toJSON())}`;
  }

  constructor(private readonly opts: DispatcherOptions) {
    this.db = opts.db;
    this.config = opts.config;
    validateConfig(opts.config);
    this.webhook = new Webhook(opts.config.secret);
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.batchSize = opts.batchSize ?? 10;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    if (!Number.isSafeInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > 100)
      throw invalid('batchSize', 'must be an integer from 1 to 100');
    if (!Number.isSafeInteger(this.pollIntervalMs) || this.pollIntervalMs < 1)
      throw invalid('pollIntervalMs', 'must be a positive integer');
  }

  /** Delivers due events until `stop()`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops the loop and waits for the attempts in progress (each bounded by the timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .then((r) => (r.attempted === this.batchSize ? 0 : this.pollIntervalMs))
        .catch((e: unknown) => {
          this.opts.onError?.(e);
          return this.pollIntervalMs;
        })
        .then((next) => {
          if (!this.stopped) this.schedule(next);
        });
    }, delayMs);
  }

  /** One run: claims up to `batchSize` due events and attempts each once. */
  async runOnce(): Promise<RunReport> {
    const claimed = await this.claim();
    const results = await Promise.all(claimed.map((c) => this.attempt(c)));
    const count = (outcome: string) => results.filter((x) => x === outcome).length;
    return {
      attempted: claimed.length,
      delivered: count('delivered'),
      retrying: count('retrying'),
      failed: count('failed'),
    };
  }

  private async claim(): Promise<Claimed[]> {
    const now = this.now();
    const r = await this.db.query<{ id: string; payload: unknown; attempts: number }>(
      `UPDATE otc_outbox o SET attempts = o.attempts + 1, next_attempt_at = $2
       FROM (SELECT id FROM otc_outbox
             WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) due
       WHERE o.id = due.id
       RETURNING o.id, o.payload, o.attempts`,
      [new Date(now), new Date(now + this.config.timeoutMs + LEASE_MARGIN_MS), this.batchSize],
    );
    return r.rows.map((row) => ({ id: row.id, payload: row.payload, attempt: Number(row.attempts) }));
  }

  private async attempt(c: Claimed): Promise<'delivered' | 'retrying' | 'failed'> {
    const outcome = await this.post(c);
    const ok = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    const giveUp = !ok && c.attempt >= MAX_DELIVERY_ATTEMPTS;
    const now = this.now();
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO otc_webhook_deliveries (event_id, attempt, status_code, error, duration_ms, at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [c.id, c.attempt, outcome.statusCode, outcome.error, outcome.durationMs, new Date(now)],
      );
      // `attempts = $2`: only the claim that made this attempt may settle the row.
      await tx.query(
        `UPDATE otc_outbox SET delivered_at = $3, failed_at = $4, next_attempt_at = $5, last_error = $6
         WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL AND failed_at IS NULL`,
        [
          c.id,
          c.attempt,
          ok ? new Date(now) : null,
          giveUp ? new Date(now) : null,
          new Date(ok || giveUp ? now : now + jitteredDelayMs(c.attempt, this.random())),
          ok ? null : outcome.error,
        ],
      );
    });
    return ok ? 'delivered' : giveUp ? 'failed' : 'retrying';
  }

  private async post(c: Claimed): Promise<Outcome> {
    const body = canonicalJson(c.payload, 'payload');
    const timestamp = new Date(this.now());
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'coffer-otc-webhooks',
      'webhook-id': c.id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': this.webhook.sign(c.id, timestamp, body),
    };
    const started = performance.now();
    const durationMs = () => Math.round(performance.now() - started);
    try {
      const res = await fetch(this.config.url, {
        method: 'POST',
        headers,
        body,
        // A signed event is never forwarded to wherever a redirect points.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
      await res.body?.cancel().catch(() => undefined);
      const ok = res.status >= 200 && res.status < 300;
      return { statusCode: res.status, error: ok ? null : `HTTP ${res.status}`, durationMs: durationMs() };
    } catch (e) {
      return { statusCode: null, error: describeFailure(e, this.config.timeoutMs), durationMs: durationMs() };
    }
  }
}

/** What went wrong, from a fixed vocabulary: never the URL (it may carry a token) nor a response body. */
function describeFailure(e: unknown, timeoutMs: number): string {
  const name = (e as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError') return `timeout after ${timeoutMs} ms`;
  const cause = (e as { cause?: { code?: unknown; name?: unknown } } | null)?.cause;
  const code =
    typeof cause?.code === 'string' ? cause.code : typeof cause?.name === 'string' ? cause.name : null;
  const text =
    code !== null
      ? `network error (${code})`
      : `request error (${typeof name === 'string' ? name : 'unknown'})`;
  return text.slice(0, MAX_ERROR_CHARS);
}

/** A whsec_ secret: base64 of at least 16 bytes (the library accepts any non-empty key; a short one is weak). */
export function validateWebhookSecret(secret: unknown, field: string): string {
  if (typeof secret !== 'string' || !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret))
    throw invalid(field, 'must be a Standard Webhooks secret: whsec_ followed by base64');
  if (Buffer.from(secret.slice('whsec_'.length), 'base64').length < 16)
    throw invalid(field, 'must hold at least 16 bytes of key');
  return secret;
}

function validateConfig(config: OutboundConfig): void {
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw invalid('webhooks.outbound.url', 'must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalid('webhooks.outbound.url', 'must be an absolute http(s) URL');
  if (url.username !== '' || url.password !== '')
    throw invalid('webhooks.outbound.url', 'must not carry credentials (the signature authenticates)');
  validateWebhookSecret(config.secret, 'webhooks.outbound.secret');
  if (!Number.isSafeInteger(config.timeoutMs) || config.timeoutMs < 1 || config.timeoutMs > 120_000)
    throw invalid('webhooks.outbound.timeoutMs', 'must be an integer from 1 to 120000');
}

/**
 * Sends a delivered or failed event again, now, with the same id and a fresh retry schedule. An event still
 * being retried is refused (`conflict`): it may be in flight, and resending it would deliver it twice at once.
 */
export async function resend(
  q: Queryable,
  eventId: string,
  opts: { now?: () => number } = {},
): Promise<void> {
  checkEventId(eventId);
  const r = await q.query(
    `UPDATE otc_outbox SET delivered_at = NULL, failed_at = NULL, attempts = 0, next_attempt_at = $2, last_error = NULL
     WHERE id = $1 AND (delivered_at IS NOT NULL OR failed_at IS NOT NULL)`,
    [eventId, new Date(opts.now?.() ?? Date.now())],
  );
  if (r.rowCount === 1) return;
  const exists = await q.query('SELECT 1 FROM otc_outbox WHERE id = $1', [eventId]);
  if (exists.rows.length === 0) throw new OtcError('not-found', `no event ${eventId}`, 'eventId');
  throw new OtcError(
    'conflict',
    `event ${eventId} is still being delivered; it is retried on schedule`,
    'eventId',
  );
}

export type DeliveryAttempt = {
  attempt: number;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  at: string;
};

export type DeliveryLog = {
  eventId: string;
  type: string;
  orderId: string | null;
  createdAt: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  failedAt: string | null;
  lastError: string | null;
  /** Every attempt in order (attempt numbers restart at 1 after a resend). */
  log: DeliveryAttempt[];
};

/** An event's delivery state and every attempt made. */
export async function deliveryLog(q: Queryable, eventId: string): Promise<DeliveryLog> {
  checkEventId(eventId);
  const e = await q.query<Record<string, unknown>>('SELECT * FROM otc_outbox WHERE id = $1', [eventId]);
  const row = e.rows[0];
  if (row === undefined) throw new OtcError('not-found', `no event ${eventId}`, 'eventId');
  const d = await q.query<Record<string, unknown>>(
    'SELECT * FROM otc_webhook_deliveries WHERE event_id = $1 ORDER BY id',
    [eventId],
  );
  const state = row.delivered_at !== null ? 'delivered' : row.failed_at !== null ? 'failed' : 'pending';
  return {
    eventId,
    type: String(row.type),
    orderId: row.order_id === null ? null : String(row.order_id),
    createdAt: iso(row.created_at)!,
    state,
    attempts: Number(row.attempts),
    nextAttemptAt: state === 'pending' ? iso(row.next_attempt_at) : null,
    deliveredAt: iso(row.delivered_at),
    failedAt: iso(row.failed_at),
    lastError: row.last_error === null ? null : String(row.last_error),
    log: d.rows.map((a) => ({
      attempt: Number(a.attempt),
      statusCode: a.status_code === null ? null : Number(a.status_code),
      error: a.error === null ? null : String(a.error),
      durationMs: Number(a.duration_ms),
      at: iso(a.at)!,
    })),
  };
}

function checkEventId(eventId: unknown): void {
  if (typeof eventId !== 'string' || !/^evt_[0-9a-f]{24}$/.test(eventId))
    throw invalid('eventId', 'must be evt_ followed by 24 hex digits');
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return (v instanceof Date ? v : new Date(String(v))).toISOString();
}
