// Idempotency-Key on POST, on both databases: the header is required and checked; a repeated key with the
// same body replays the stored answer without running the handler (a double-submitted order is not made
// twice); another body or route is a 409; a request still running is a 409; 4xx answers are replayed,
// 5xx and 429 release the key; an abandoned claim is taken over; keys are per caller; a route may opt
// out. On the PostgreSQL server, two service instances receiving one key at the same instant run the
// handler once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeySha256 } from '../src/api/auth.ts';
import { bodySha256 } from '../src/api/idempotency.ts';
import { closedObject, positiveAmountString } from '../src/api/schemas.ts';
import { buildServer, type OtcApp, rawBodyOf } from '../src/api/server.ts';
import type { OtcConfig, Role } from '../src/config/types.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrations.ts';
import { OtcError } from '../src/errors.ts';
import { createServerDatabase, DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

const KEYS: Record<string, { role: Role; token: string }> = {
  backend: { role: 'backend', token: 'idem-test-backend-key' },
  other: { role: 'backend', token: 'idem-test-other-backend-key' },
};
const bearer = (who: keyof typeof KEYS) => ({ authorization: `Bearer ${KEYS[who]!.token}` });

function testConfig(): OtcConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    database: {},
    custody: { nodes: ['http://127.0.0.1:1'], apiKey: 'unused', requestTimeoutMs: 1000, pollMs: 100 },
    assets: [],
    fiat: [],
    tiers: [],
    spreads: [],
    pricing: { source: { kind: 'static', file: '/dev/null', publicKey: '00'.repeat(32) }, maxAgeMs: 60_000 },
    quotes: { firmTtlMs: 30_000, indicativeTtlMs: 60_000, signingKey: new Uint8Array(32) },
    payments: { windowMs: 86_400_000 },
    deskApproval: {},
    autoConfirm: { maxAmount: {}, tiers: [], allowFirstOrder: false },
    compliance: { blockedCountries: [], assetRestrictions: [] },
    webhooks: {},
    apiKeys: Object.entries(KEYS).map(([id, k]) => ({ id, role: k.role, sha256: apiKeySha256(k.token) })),
    logLevel: 'silent',
  };
}

/** A gate the slow route waits on, opened by the test. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

async function bump(db: Database, name: string): Promise<number> {
  const r = await db.query<{ n: number }>(
    `INSERT INTO test_counter (name, n) VALUES ($1, 1)
     ON CONFLICT (name) DO UPDATE SET n = test_counter.n + 1 RETURNING n`,
    [name],
  );
  return r.rows[0]!.n;
}

async function count(db: Database, name: string): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT n FROM test_counter WHERE name = $1', [name]);
  return r.rows[0]?.n ?? 0;
}

const countBody = closedObject({ amount: positiveAmountString, counter: { type: 'string' } }, [
  'amount',
  'counter',
]);

/** Test routes; `slow` holds the slow route until the test opens it. */
function testRoutes(db: Database, slow: { current: ReturnType<typeof gate> }, delayMs = 0) {
  return (app: OtcApp) => {
    const roles = ['backend'] as const;
    app.post('/v1/test/count', { config: { roles }, schema: { body: countBody } }, async (req, reply) => {
      const b = req.body as { amount: string; counter: string };
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      const n = await bump(db, b.counter);
      return reply
        .code(201)
        .send({ counter: b.counter, n, amount: b.amount, at: process.hrtime.bigint().toString() });
    });
    app.post('/v1/test/other', { config: { roles }, schema: { body: countBody } }, async () => ({
      other: true,
    }));
    app.post('/v1/test/slow', { config: { roles }, schema: { body: countBody } }, async (req) => {
      await slow.current.opened;
      return { n: await bump(db, (req.body as { counter: string }).counter) };
    });
    app.post('/v1/test/refuse', { config: { roles }, schema: { body: countBody } }, async (req) => {
      await bump(db, (req.body as { counter: string }).counter);
      throw new OtcError('limit-exceeded', 'amount: above the daily limit', 'amount');
    });
    app.post('/v1/test/flaky', { config: { roles }, schema: { body: countBody } }, async (req) => {
      const n = await bump(db, (req.body as { counter: string }).counter);
      if (n === 1) throw new OtcError('custody-error', 'the signer nodes did not answer');
      return { n };
    });
    app.post('/v1/test/rate', { config: { roles }, schema: { body: countBody } }, async (req) => {
      await bump(db, (req.body as { counter: string }).counter);
      throw new OtcError('rate-limited', 'too many quotes', undefined, { retryAfterSeconds: 7 });
    });
    app.post(
      '/v1/test/webhook',
      { config: { public: true, idempotency: false, rawBody: true }, schema: { body: countBody } },
      async (req) => ({ raw: rawBodyOf(req), n: await bump(db, (req.body as { counter: string }).counter) }),
    );
  };
}

async function withCounterTable(db: Database): Promise<Database> {
  await db.exec('CREATE TABLE IF NOT EXISTS test_counter (name text PRIMARY KEY, n integer NOT NULL)');
  return db;
}

describe.each(DATABASE_KINDS)('Idempotency-Key on %s', (kind) => {
  let db: Database;
  let app: OtcApp;
  const slow = { current: gate() };
  const send = (url: string, body: unknown, key: string | undefined, who: keyof typeof KEYS = 'backend') =>
    app.inject({
      method: 'POST',
      url,
      headers: { ...bearer(who), ...(key !== undefined ? { 'idempotency-key': key } : {}) },
      payload: body as object,
    });

  beforeAll(async () => {
    db = await withCounterTable(await freshDatabase(kind));
    app = await buildServer({ config: testConfig(), db }, testRoutes(db, slow));
  });
  afterAll(async () => {
    await app.close();
    await db.close();
  });

  it('refuses a POST without the header, or with a malformed one, naming Idempotency-Key; nothing runs', async () => {
    for (const key of [undefined, '', 'has space', 'x'.repeat(129), 'naïve']) {
      const r = await send('/v1/test/count', { amount: '1', counter: 'no-key' }, key);
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ code: 'invalid-request', field: 'Idempotency-Key' });
    }
    expect(await count(db, 'no-key')).toBe(0);
  });

  it('replays the stored answer for a repeated key and body without running the handler again (double submit)', async () => {
    const body = { amount: '250', counter: 'replay' };
    const first = await send('/v1/test/count', body, 'order-submit-1');
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await send('/v1/test/count', body, 'order-submit-1');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(again.body).toBe(first.body);
    // Key order is not a different body.
    const reordered = await send('/v1/test/count', { counter: 'replay', amount: '250' }, 'order-submit-1');
    expect(reordered.body).toBe(first.body);
    expect(await count(db, 'replay')).toBe(1);
  });

  it('answers 409 idempotency-conflict for the same key with another body or on another route', async () => {
    await send('/v1/test/count', { amount: '1', counter: 'conflict' }, 'conflict-key');
    const otherBody = await send('/v1/test/count', { amount: '2', counter: 'conflict' }, 'conflict-key');
    expect(otherBody.statusCode).toBe(409);
    expect(otherBody.json()).toMatchObject({ code: 'idempotency-conflict', field: 'Idempotency-Key' });
    const otherRoute = await send('/v1/test/other', { amount: '1', counter: 'conflict' }, 'conflict-key');
    expect(otherRoute.statusCode).toBe(409);
    expect(otherRoute.json().code).toBe('idempotency-conflict');
    expect(await count(db, 'conflict')).toBe(1);
  });

  it('scopes keys per caller: another API key may use the same key', async () => {
    const body = { amount: '1', counter: 'per-actor' };
    expect((await send('/v1/test/count', body, 'shared-key')).statusCode).toBe(201);
    const other = await send('/v1/test/count', body, 'shared-key', 'other');
    expect(other.statusCode).toBe(201);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(await count(db, 'per-actor')).toBe(2);
  });

  it('answers 409 conflict while the first request with the key is still running, then replays its answer', async () => {
    slow.current = gate();
    const body = { amount: '1', counter: 'in-progress' };
    const first = send('/v1/test/slow', body, 'slow-key');
    await waitForClaim(db, 'slow-key');
    const during = await send('/v1/test/slow', body, 'slow-key');
    expect(during.statusCode).toBe(409);
    expect(during.json()).toMatchObject({ code: 'conflict', field: 'Idempotency-Key' });
    slow.current.open();
    expect((await first).statusCode).toBe(200);
    const after = await send('/v1/test/slow', body, 'slow-key');
    expect(after.headers['idempotent-replayed']).toBe('true');
    expect(after.json()).toEqual({ n: 1 });
    expect(await count(db, 'in-progress')).toBe(1);
  });

  it('replays a 4xx refusal: a client retrying a refused request gets the same refusal', async () => {
    const body = { amount: '9', counter: 'refused' };
    const first = await send('/v1/test/refuse', body, 'refuse-key');
    expect(first.statusCode).toBe(422);
    const again = await send('/v1/test/refuse', body, 'refuse-key');
    expect(again.statusCode).toBe(422);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual({
      code: 'limit-exceeded',
      message: 'amount: above the daily limit',
      field: 'amount',
    });
    expect(await count(db, 'refused')).toBe(1);
  });

  it('releases the key after a 5xx so the client may retry with it', async () => {
    const body = { amount: '3', counter: 'flaky' };
    const first = await send('/v1/test/flaky', body, 'flaky-key');
    expect(first.statusCode).toBe(502);
    const retry = await send('/v1/test/flaky', body, 'flaky-key');
    expect(retry.statusCode).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.json()).toEqual({ n: 2 });
    const replay = await send('/v1/test/flaky', body, 'flaky-key');
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await count(db, 'flaky')).toBe(2);
  });

  it('does not store a 429 (it means "retry later") and sends retry-after', async () => {
    const body = { amount: '3', counter: 'rate' };
    const first = await send('/v1/test/rate', body, 'rate-key');
    expect(first.statusCode).toBe(429);
    expect(first.headers['retry-after']).toBe('7');
    const again = await send('/v1/test/rate', body, 'rate-key');
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(await count(db, 'rate')).toBe(2);
  });

  it('does not take a key for a request refused by validation', async () => {
    const bad = await send('/v1/test/count', { amount: 'ten', counter: 'validated' }, 'validated-key');
    expect(bad.statusCode).toBe(400);
    const good = await send('/v1/test/count', { amount: '10', counter: 'validated' }, 'validated-key');
    expect(good.statusCode).toBe(201);
    expect(good.headers['idempotent-replayed']).toBeUndefined();
  });

  it('takes over a claim abandoned by a crashed instance once it is stale, not before', async () => {
    const body = { amount: '5', counter: 'abandoned' };
    const claim = (key: string, ageMs: number) =>
      db.query(
        `INSERT INTO otc_idempotency (actor, key, route, body_sha256, created_at)
         VALUES ('backend', $1, 'POST /v1/test/count', $2, $3)`,
        [key, bodySha256(body), new Date(Date.now() - ageMs)],
      );
    await claim('crashed-key', 6 * 60_000);
    await claim('running-key', 1_000);
    const takenOver = await send('/v1/test/count', body, 'crashed-key');
    expect(takenOver.statusCode).toBe(201);
    const running = await send('/v1/test/count', body, 'running-key');
    expect(running.statusCode).toBe(409);
    expect(running.json().code).toBe('conflict');
    expect(await count(db, 'abandoned')).toBe(1);
  });

  it('judges staleness by the injected clock', async () => {
    const later = await buildServer(
      { config: testConfig(), db, now: () => Date.now() + 10 * 60_000 },
      testRoutes(db, slow),
    );
    try {
      // 'running-key' was claimed a moment ago (previous test); ten minutes later it is abandoned.
      const r = await later.inject({
        method: 'POST',
        url: '/v1/test/count',
        headers: { ...bearer('backend'), 'idempotency-key': 'running-key' },
        payload: { amount: '5', counter: 'abandoned' },
      });
      expect(r.statusCode).toBe(201);
      expect(await count(db, 'abandoned')).toBe(2);
    } finally {
      await later.close();
    }
  });

  it('lets a route opt out (the signed fiat webhook) and keeps its exact body text', async () => {
    const raw = '{ "counter": "webhook",  "amount": "7" }';
    const send = () =>
      app.inject({
        method: 'POST',
        url: '/v1/test/webhook',
        headers: { 'content-type': 'application/json' },
        payload: raw,
      });
    const first = await send();
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ raw, n: 1 });
    expect((await send()).json()).toEqual({ raw, n: 2 });
  });
});

async function waitForClaim(db: Database, key: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = await db.query('SELECT 1 FROM otc_idempotency WHERE key = $1', [key]);
    if (r.rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no claim for ${key}`);
}

describe('two service instances on one PostgreSQL server', () => {
  const open: { app: OtcApp; db: Database }[] = [];
  let check: Database;

  beforeAll(async () => {
    const url = await createServerDatabase();
    check = await withCounterTable(await openDatabase({ url }));
    await migrate(check);
    for (let i = 0; i < 2; i++) {
      const db = await openDatabase({ url });
      // The handler takes a little while, as a real one would, so both requests are in flight together.
      const app = await buildServer({ config: testConfig(), db }, testRoutes(db, { current: gate() }, 30));
      open.push({ app, db });
    }
  });
  afterAll(async () => {
    for (const { app, db } of open) {
      await app.close();
      await db.close();
    }
    await check.close();
  });

  it('runs the handler once when both receive the same key at the same instant (no double order)', async () => {
    const keys = Array.from({ length: 8 }, (_, i) => `race-${i}`);
    const answers = await Promise.all(
      keys.flatMap((key) =>
        open.map(({ app }) =>
          app.inject({
            method: 'POST',
            url: '/v1/test/count',
            headers: { ...bearer('backend'), 'idempotency-key': key },
            payload: { amount: '1', counter: key },
          }),
        ),
      ),
    );
    for (const [i, key] of keys.entries()) {
      expect(await count(check, key)).toBe(1);
      const pair = answers.slice(2 * i, 2 * i + 2);
      const ran = pair.filter((a) => a.statusCode === 201 && a.headers['idempotent-replayed'] === undefined);
      expect(ran).toHaveLength(1);
      const otherAnswer = pair.find((a) => a !== ran[0])!;
      // The other instance either saw the claim in progress or replayed the finished answer.
      if (otherAnswer.statusCode === 409) expect(otherAnswer.json().code).toBe('conflict');
      else expect(otherAnswer.body).toBe(ran[0]!.body);
    }
  });
});
