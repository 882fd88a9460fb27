// Idempotency-Key on every POST (Stripe's and formance ledger's model), shared by every service instance
// through table otc_idempotency:
// - the INSERT of (actor, key) decides, on the PRIMARY KEY, which request runs the handler — on one
//   PostgreSQL server two instances receiving the same key at the same instant run it once;
// - the same key again with the same route and body hash gets the stored status and body, byte for byte,
//   with `idempotent-replayed: true`, and the handler does not run;
// - the same key with another route or body → 409 idempotency-conflict; while the first request still
//   runs → 409 conflict.
// What is stored: 2xx and 4xx answers (a client retrying a refused request gets the same refusal), except
// 429 (it means "try again later"). A 5xx answer, or an answer that cannot be stored, releases the key so
// that the client may retry with it. The handler's effects and the stored answer are not one transaction:
// a process that dies between them leaves the key "in progress" until `staleAfterMs`, after which a retry
// with the same body runs the handler again — so handlers stay idempotent by their own state checks
// (order status and version), and this layer only spares them the repeated work and answers.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Actor } from '../config/types.ts';
import type { Queryable } from '../db/database.ts';
import { OtcError } from '../errors.ts';
import type { OtcApp } from './server.ts';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;
/** An in-progress claim older than this is taken as abandoned (its process died). */
export const DEFAULT_STALE_AFTER_MS = 5 * 60_000;

/** An answer as stored and replayed: status, content type and the exact body bytes (UTF-8). */
export type StoredAnswer = { status: number; contentType: string; body: string };

export type Claim = { kind: 'run' } | { kind: 'replay'; answer: StoredAnswer };

type Row = { route: string; body_sha256: string; status: number | null; response: unknown };

/** SHA-256 (hex) of a parsed body in canonical JSON (keys sorted), so key order does not matter. */
export function bodySha256(body: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(body ?? null))
    .digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The Idempotency-Key header of a request, validated. */
export function idempotencyKey(header: string | string[] | undefined): string {
  if (header === undefined)
    throw new OtcError('invalid-request', 'Idempotency-Key: header is required on POST', 'Idempotency-Key');
  if (typeof header !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(header))
    throw new OtcError(
      'invalid-request',
      'Idempotency-Key: must be 1–128 printable ASCII characters without spaces',
      'Idempotency-Key',
    );
  return header;
}

/**
 * Claims (actor, key) for this request: `run` when this request must run the handler, `replay` with the
 * stored answer, or throws 409 (another body or route: idempotency-conflict; still running: conflict).
 */
export async function claimKey(
  db: Queryable,
  c: { actor: Actor; key: string; route: string; bodySha256: string; now: Date; staleAfterMs: number },
  attempt = 1,
): Promise<Claim> {
  const inserted = await db.query(
    `INSERT INTO otc_idempotency (actor, key, route, body_sha256, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (actor, key) DO NOTHING RETURNING key`,
    [c.actor.id, c.key, c.route, c.bodySha256, c.now],
  );
  if (inserted.rows.length === 1) return { kind: 'run' };
  const r = await db.query<Row>(
    'SELECT route, body_sha256, status, response FROM otc_idempotency WHERE actor = $1 AND key = $2',
    [c.actor.id, c.key],
  );
  const row = r.rows[0];
  // Released (a 5xx) between our insert and select: claim it again, a bounded number of times.
  if (row === undefined) {
    if (attempt >= 3) throw new OtcError('conflict', 'Idempotency-Key: busy; retry later', 'Idempotency-Key');
    return claimKey(db, c, attempt + 1);
  }
  if (row.route !== c.route || row.body_sha256 !== c.bodySha256)
    throw new OtcError(
      'idempotency-conflict',
      row.route !== c.route
        ? 'Idempotency-Key: this key was used for another request (another route); use a new key'
        : 'Idempotency-Key: this key was used with another body; use a new key',
      'Idempotency-Key',
    );
  if (row.status !== null) return { kind: 'replay', answer: storedAnswer(row.status, row.response) };
  if (await takeOverAbandoned(db, c)) return { kind: 'run' };
  throw new OtcError(
    'conflict',
    'Idempotency-Key: a request with this key is still in progress; retry later',
    'Idempotency-Key',
  );
}

/** An in-progress claim older than staleAfterMs: one taker (the update moves created_at) runs the handler. */
async function takeOverAbandoned(
  db: Queryable,
  c: { actor: Actor; key: string; now: Date; staleAfterMs: number },
): Promise<boolean> {
  const r = await db.query(
    `UPDATE otc_idempotency SET created_at = $3
     WHERE actor = $1 AND key = $2 AND status IS NULL AND created_at <= $4 RETURNING key`,
    [c.actor.id, c.key, c.now, new Date(c.now.getTime() - c.staleAfterMs)],
  );
  return r.rows.length === 1;
}

function storedAnswer(status: number, response: unknown): StoredAnswer {
  const o = (response ?? {}) as { contentType?: unknown; body?: unknown };
  return {
    status,
    contentType: typeof o.contentType === 'string' ? o.contentType : 'application/json; charset=utf-8',
    body: typeof o.body === 'string' ? o.body : '',
  };
}

/** Whether an answer with this status is kept for replays (see the file comment). */
export function isStoredStatus(status: number): boolean {
  return status >= 200 && status < 500 && status !== 429;
}

export async function storeAnswer(
  db: Queryable,
  a: { actor: Actor; key: string; answer: StoredAnswer },
): Promise<void> {
  await db.query(
    'UPDATE otc_idempotency SET status = $3, response = $4::jsonb WHERE actor = $1 AND key = $2 AND status IS NULL',
    [
      a.actor.id,
      a.key,
      a.answer.status,
      JSON.stringify({ contentType: a.answer.contentType, body: a.answer.body }),
    ],
  );
}

/** Frees a key whose request ended without a storable answer, so the client may retry with it. */
export async function releaseKey(db: Queryable, k: { actor: Actor; key: string }): Promise<void> {
  await db.query('DELETE FROM otc_idempotency WHERE actor = $1 AND key = $2 AND status IS NULL', [
    k.actor.id,
    k.key,
  ]);
}

/** Deletes stored answers older than `before` (a retention job calls it); returns how many. */
export async function pruneIdempotencyKeys(db: Queryable, before: Date): Promise<number> {
  const r = await db.query('DELETE FROM otc_idempotency WHERE created_at < $1 AND status IS NOT NULL', [
    before,
  ]);
  return r.rowCount;
}

export type IdempotencyDeps = {
  db: Queryable;
  /** Epoch milliseconds. */
  now: () => number;
  log: Logger;
  staleAfterMs?: number;
  /** The authenticated actor of a request (the server's auth hook sets it). */
  actorOf: (req: FastifyRequest) => Actor;
};

/**
 * Hooks on `app`: every POST route (unless its config says `idempotency: false`) needs the header; the
 * claim runs after validation (an invalid request never takes a key) and the answer is stored in onSend,
 * before the client can see it, so a retry that follows the answer always finds it.
 */
export function installIdempotency(app: OtcApp, d: IdempotencyDeps): void {
  const owned = new WeakMap<FastifyRequest, { actor: Actor; key: string }>();
  const applies = (req: FastifyRequest) =>
    req.method === 'POST' &&
    req.routeOptions.config.idempotency !== false &&
    req.routeOptions.url !== undefined;

  app.addHook('preValidation', async (req) => {
    if (applies(req)) idempotencyKey(req.headers[IDEMPOTENCY_HEADER]);
  });

  app.addHook('preHandler', async (req, reply) => {
    if (!applies(req)) return;
    const actor = d.actorOf(req);
    const key = idempotencyKey(req.headers[IDEMPOTENCY_HEADER]);
    const claim = await claimKey(d.db, {
      actor,
      key,
      route: `POST ${req.url}`,
      bodySha256: bodySha256(req.body),
      now: new Date(d.now()),
      staleAfterMs: d.staleAfterMs ?? DEFAULT_STALE_AFTER_MS,
    });
    if (claim.kind === 'run') {
      owned.set(req, { actor, key });
      return;
    }
    return replay(reply, claim.answer);
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const claim = owned.get(req);
    if (!claim) return payload;
    owned.delete(req);
    const body = payloadText(payload);
    try {
      if (body !== undefined && isStoredStatus(reply.statusCode)) {
        const contentType = String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8');
        await storeAnswer(d.db, { ...claim, answer: { status: reply.statusCode, contentType, body } });
      } else await releaseKey(d.db, claim);
    } catch (e) {
      // The answer still goes out; the key stays in progress until staleAfterMs.
      d.log.error(
        { err: { message: (e as Error).message }, key: claim.key },
        'idempotency: answer not stored',
      );
    }
    return payload;
  });
}

function payloadText(payload: unknown): string | undefined {
  if (typeof payload === 'string') return payload;
  if (Buffer.isBuffer(payload)) return payload.toString('utf8');
  if (payload === null || payload === undefined) return '';
  return undefined; // a stream: not stored
}

function replay(reply: FastifyReply, a: StoredAnswer): FastifyReply {
  return reply
    .code(a.status)
    .header('content-type', a.contentType)
    .header(REPLAYED_HEADER, 'true')
    .send(Buffer.from(a.body, 'utf8'));
}
