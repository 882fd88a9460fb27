// The outbox and outbound lifecycle webhooks, against a real local HTTP receiver that checks every
// Standard Webhooks signature with the standardwebhooks library: payload and headers, retries on the
// backoff schedule (deterministic clock) with the same event id, giving up after three days, timeouts and
// network errors logged without secrets, resend and the delivery log; two dispatchers on one PostgreSQL
// server never deliver an attempt twice.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrations.ts';
import type { OtcError } from '../src/errors.ts';
import { enqueueEvent } from '../src/outbox/outbox.ts';
import { deliveryLog, resend, WebhookDispatcher } from '../src/webhooks/deliver.ts';
import { MAX_DELIVERY_ATTEMPTS, retryDelayMs } from '../src/webhooks/schedule.ts';
import { createServerDatabase, DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

type Received = {
  id: string;
  timestamp: number;
  body: string;
  headers: IncomingHttpHeaders;
  /** The library's full verify (signature and its own 5-minute window against the real clock). */
  libraryVerified: boolean;
};

/** A desk backend: verifies signatures, records requests, and can be told to fail, hang or redirect. */
class Receiver {
  readonly received: Received[] = [];
  failNext = 0;
  failStatus = 500;
  hangMs = 0;
  redirect = false;
  delayMs = 0;
  private server: Server | undefined;
  private readonly webhook = new Webhook(SECRET);

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void this.handle(Buffer.concat(chunks).toString('utf8'), req.headers, res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks?token=receiver-secret-token`;
  }

  private async handle(body: string, headers: IncomingHttpHeaders, res: import('node:http').ServerResponse) {
    const id = String(headers['webhook-id']);
    const timestamp = Number(headers['webhook-timestamp']);
    // The signature the library computes for these id, timestamp and body must be the one sent.
    const expected = this.webhook.sign(id, new Date(timestamp * 1000), body);
    if (headers['webhook-signature'] !== expected) return res.writeHead(401).end();
    let libraryVerified = true;
    try {
      this.webhook.verify(body, headers as Record<string, string>);
    } catch {
      libraryVerified = false;
    }
    this.received.push({ id, timestamp, body, headers, libraryVerified });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.hangMs > 0) return void setTimeout(() => res.writeHead(200).end(), this.hangMs);
    if (this.redirect) return res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' }).end();
    if (this.failNext > 0) {
      this.failNext--;
      return res.writeHead(this.failStatus).end('backend error with details');
    }
    res.writeHead(204).end();
  }

  reset(): void {
    this.received.length = 0;
    this.failNext = 0;
    this.failStatus = 500;
    this.hangMs = 0;
    this.redirect = false;
    this.delayMs = 0;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

/** A clock the test moves by hand. */
function fakeClock(start = Date.now()) {
  let t = start;
  return {
    now: () => t,
    set: (ms: number) => {
      t = ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

async function nextAttemptAt(db: Database, id: string): Promise<number> {
  const r = await db.query<{ next_attempt_at: Date }>(
    'SELECT next_attempt_at FROM otc_outbox WHERE id = $1',
    [id],
  );
  return new Date(r.rows[0]!.next_attempt_at).getTime();
}

describe.each(DATABASE_KINDS)('outbox and outbound webhooks on %s', (kind) => {
  let db: Database;
  const receiver = new Receiver();
  let url: string;
  beforeAll(async () => {
    [db, url] = await Promise.all([freshDatabase(kind), receiver.start()]);
  });
  afterAll(async () => {
    await Promise.all([db.close(), receiver.stop()]);
  });
  beforeEach(async () => {
    receiver.reset();
    await db.query('DELETE FROM otc_webhook_deliveries');
    await db.query('DELETE FROM otc_outbox');
  });

  const dispatcher = (clock = fakeClock(), timeoutMs = 2000) =>
    new WebhookDispatcher({
      db,
      config: { url, secret: SECRET, timeoutMs },
      now: clock.now,
      random: () => 0.5,
    });

  it('enqueues an event with a stable evt_ id and delivers {id, type, createdAt, data} signed per Standard Webhooks', async () => {
    const id = await db.transaction((tx) =>
      enqueueEvent(tx, {
        type: 'order.paid',
        orderId: 'ord_1',
        data: { orderId: 'ord_1', amount: 10n ** 20n },
      }),
    );
    expect(id).toMatch(/^evt_[0-9a-f]{24}$/);
    const report = await dispatcher().runOnce();
    expect(report).toEqual({ attempted: 1, delivered: 1, retrying: 0, failed: 0 });
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(got.libraryVerified).toBe(true);
    expect(got.id).toBe(id);
    expect(got.headers['content-type']).toBe('application/json');
    const body = JSON.parse(got.body);
    expect(body).toEqual({
      id,
      type: 'order.paid',
      createdAt: expect.any(String),
      data: { orderId: 'ord_1', amount: '100000000000000000000' },
    });
    const log = await deliveryLog(db, id);
    expect(log).toMatchObject({ state: 'delivered', attempts: 1, orderId: 'ord_1', lastError: null });
    expect(log.log).toEqual([
      { attempt: 1, statusCode: 204, error: null, durationMs: expect.any(Number), at: expect.any(String) },
    ]);
    expect((await dispatcher().runOnce()).attempted).toBe(0);
  });

  it('writes no event when the transaction of the change rolls back', async () => {
    await expect(
      db.transaction(async (tx) => {
        await enqueueEvent(tx, { type: 'order.released', data: {} });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect((await db.query('SELECT id FROM otc_outbox')).rows).toEqual([]);
  });

  it('refuses bad events naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ type: 'Order Paid', data: {} }, 'event.type'],
      [{ type: 'order.paid', orderId: '', data: {} }, 'event.orderId'],
      [{ type: 'order.paid', data: 'x' }, 'event.data'],
      [{ type: 'order.paid', data: { at: new Date() } }, 'event.data.at'],
    ];
    for (const [input, field] of cases) {
      const e = await enqueueEvent(db, input as never).catch((x: unknown) => x);
      expect((e as OtcError).field, field).toBe(field);
    }
  });

  it('retries on the backoff schedule with the same event id, then gives up after three days', async () => {
    const clock = fakeClock();
    const createdAt = clock.now();
    const id = await enqueueEvent(db, { type: 'order.created', data: { n: 1 } }, { now: clock.now });
    receiver.failNext = Number.MAX_SAFE_INTEGER;
    const d = dispatcher(clock);
    for (let attempt = 1; attempt <= MAX_DELIVERY_ATTEMPTS; attempt++) {
      const report = await d.runOnce();
      expect(report.attempted, `attempt ${attempt}`).toBe(1);
      if (attempt === MAX_DELIVERY_ATTEMPTS) {
        expect(report.failed).toBe(1);
        break;
      }
      const next = await nextAttemptAt(db, id);
      expect(next - clock.now()).toBe(retryDelayMs(attempt));
      clock.set(next - 1);
      expect((await d.runOnce()).attempted, 'not due one millisecond early').toBe(0);
      clock.set(next);
    }
    expect(retryDelayMs(1)).toBe(5_000);
    expect(retryDelayMs(7)).toBe(2 * 3_600_000);
    expect(retryDelayMs(8)).toBe(6 * 3_600_000);
    expect(clock.now() - createdAt).toBeLessThanOrEqual(3 * 24 * 3_600_000);
    expect(new Set(receiver.received.map((r) => r.id))).toEqual(new Set([id]));
    expect(receiver.received.map((r) => r.timestamp * 1000)).toEqual([
      ...new Set(receiver.received.map((r) => r.timestamp * 1000)),
    ]);
    expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
    const log = await deliveryLog(db, id);
    expect(log).toMatchObject({ state: 'failed', attempts: MAX_DELIVERY_ATTEMPTS, lastError: 'HTTP 500' });
    expect(log.log.map((a) => a.attempt)).toEqual(
      Array.from({ length: MAX_DELIVERY_ATTEMPTS }, (_, i) => i + 1),
    );
    expect(log.log.every((a) => a.statusCode === 500 && a.error === 'HTTP 500')).toBe(true);
    clock.advance(30 * 24 * 3_600_000);
    expect((await d.runOnce()).attempted).toBe(0);
  });

  it('spreads retries by ±10 % jitter', async () => {
    const clock = fakeClock();
    receiver.failNext = 2;
    const ids = [
      await enqueueEvent(db, { type: 'order.created', data: {} }, { now: clock.now }),
      await enqueueEvent(db, { type: 'order.created', data: {} }, { now: clock.now }),
    ];
    const randoms = [0, 0.999999];
    const d = new WebhookDispatcher({
      db,
      config: { url, secret: SECRET, timeoutMs: 2000 },
      now: clock.now,
      random: () => randoms.shift()!,
      batchSize: 1,
    });
    await d.runOnce();
    await d.runOnce();
    const delays = await Promise.all(ids.map(async (id) => (await nextAttemptAt(db, id)) - clock.now()));
    expect(delays.sort()).toEqual([4_500, 5_500]);
  });

  it('delivers after failures: the retry carries the same webhook-id and the log shows each attempt', async () => {
    const clock = fakeClock();
    receiver.failNext = 2;
    receiver.failStatus = 503;
    const id = await enqueueEvent(db, { type: 'order.completed', data: {} }, { now: clock.now });
    const d = dispatcher(clock);
    for (let i = 0; i < 3; i++) {
      await d.runOnce();
      clock.set(await nextAttemptAt(db, id));
    }
    expect(receiver.received.map((r) => r.id)).toEqual([id, id, id]);
    const log = await deliveryLog(db, id);
    expect(log.state).toBe('delivered');
    expect(log.log.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, 503, 'HTTP 503'],
      [2, 503, 'HTTP 503'],
      [3, 204, null],
    ]);
  });

  it('bounds each attempt by the timeout and logs timeouts, refusals and redirects without the URL or its token', async () => {
    const id = await enqueueEvent(db, { type: 'order.created', data: {} });
    receiver.hangMs = 3_000;
    const slow = await new WebhookDispatcher({
      db,
      config: { url, secret: SECRET, timeoutMs: 200 },
    }).runOnce();
    expect(slow.retrying).toBe(1);
    const timedOut = (await deliveryLog(db, id)).log[0]!;
    expect(timedOut.error).toBe('timeout after 200 ms');
    expect(timedOut.durationMs).toBeLessThan(2_000);

    receiver.reset();
    receiver.redirect = true;
    await db.query("UPDATE otc_outbox SET next_attempt_at = now() - interval '1 second'");
    await dispatcher().runOnce();
    expect((await deliveryLog(db, id)).log[1]).toMatchObject({ statusCode: 302, error: 'HTTP 302' });

    const closedUrl = `${url.replace(/:\d+\//, ':9/')}`;
    await db.query("UPDATE otc_outbox SET next_attempt_at = now() - interval '1 second'");
    await new WebhookDispatcher({
      db,
      config: { url: closedUrl, secret: SECRET, timeoutMs: 2000 },
    }).runOnce();
    const refused = (await deliveryLog(db, id)).log[2]!;
    expect(refused.statusCode).toBeNull();
    expect(refused.error).toMatch(/^network error \(/);
    const stored = JSON.stringify((await db.query('SELECT * FROM otc_webhook_deliveries')).rows);
    expect(stored).not.toContain('receiver-secret-token');
    expect(JSON.stringify((await db.query('SELECT last_error FROM otc_outbox')).rows)).not.toContain('token');
  });

  it('resends a delivered or failed event with the same id; refuses an event still pending or unknown', async () => {
    const clock = fakeClock();
    const id = await enqueueEvent(
      db,
      { type: 'order.released', data: { txHash: '0xabc' } },
      { now: clock.now },
    );
    const pending = await resend(db, id).catch((e: unknown) => e);
    expect((pending as OtcError).code).toBe('conflict');
    const d = dispatcher(clock);
    await d.runOnce();
    await resend(db, id, { now: clock.now });
    expect((await deliveryLog(db, id)).state).toBe('pending');
    await d.runOnce();
    expect(receiver.received.map((r) => r.id)).toEqual([id, id]);
    expect(receiver.received[0]!.body).toBe(receiver.received[1]!.body);
    const log = await deliveryLog(db, id);
    expect(log.state).toBe('delivered');
    expect(log.log.map((a) => a.attempt)).toEqual([1, 1]);
    const unknown = await resend(db, 'evt_000000000000000000000000').catch((e: unknown) => e);
    expect((unknown as OtcError).code).toBe('not-found');
    const malformed = await deliveryLog(db, 'nope').catch((e: unknown) => e);
    expect((malformed as OtcError).field).toBe('eventId');
  });

  it('start() delivers in the background and stop() waits for it', async () => {
    const id = await enqueueEvent(db, { type: 'order.created', data: {} });
    const d = new WebhookDispatcher({
      db,
      config: { url, secret: SECRET, timeoutMs: 2000 },
      pollIntervalMs: 20,
    });
    d.start();
    for (let i = 0; i < 200 && receiver.received.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    await d.stop();
    expect(receiver.received.map((r) => r.id)).toEqual([id]);
    await new Promise((r) => setTimeout(r, 50));
    expect((await deliveryLog(db, id)).state).toBe('delivered');
  });

  it('refuses a bad outbound configuration naming the field', () => {
    const cases: [Partial<{ url: string; secret: string; timeoutMs: number }>, string][] = [
      [{ url: 'ftp://x' }, 'webhooks.outbound.url'],
      [{ url: 'https://user:pw@x.example/' }, 'webhooks.outbound.url'],
      [{ secret: 'not-a-secret' }, 'webhooks.outbound.secret'],
      [{ secret: 'whsec_c2hvcnQ=' }, 'webhooks.outbound.secret'],
      [{ timeoutMs: 0 }, 'webhooks.outbound.timeoutMs'],
    ];
    for (const [patch, field] of cases) {
      let error: unknown;
      try {
        new WebhookDispatcher({ db, config: { url, secret: SECRET, timeoutMs: 1000, ...patch } });
      } catch (e) {
        error = e;
      }
      expect((error as OtcError).field, field).toBe(field);
    }
  });
});

describe('outbound webhooks: two dispatchers on one PostgreSQL server', () => {
  const handles: Database[] = [];
  const receiver = new Receiver();
  let url: string;
  beforeAll(async () => {
    const dbUrl = await createServerDatabase();
    handles.push(await openDatabase({ url: dbUrl }), await openDatabase({ url: dbUrl }));
    await migrate(handles[0]!);
    url = await receiver.start();
  });
  afterAll(async () => {
    await Promise.all([...handles.map((h) => h.close()), receiver.stop()]);
  });

  it('never delivers an attempt twice: each event reaches the receiver exactly once', async () => {
    const events = 40;
    const ids = new Set<string>();
    for (let i = 0; i < events; i++)
      ids.add(await enqueueEvent(handles[0]!, { type: 'order.created', data: { i } }));
    receiver.delayMs = 15;
    const dispatchers = handles.map(
      (h) => new WebhookDispatcher({ db: h, config: { url, secret: SECRET, timeoutMs: 5000 }, batchSize: 5 }),
    );
    const attempted = [0, 0];
    for (let round = 0; round < 50; round++) {
      const reports = await Promise.all(dispatchers.map((d) => d.runOnce()));
      for (const [i, r] of reports.entries()) attempted[i]! += r.attempted;
      if (reports.every((r) => r.attempted === 0)) break;
    }
    expect(attempted[0]! + attempted[1]!).toBe(events);
    expect(attempted[0]).toBeGreaterThan(0);
    expect(attempted[1]).toBeGreaterThan(0);
    const perId = new Map<string, number>();
    for (const r of receiver.received) perId.set(r.id, (perId.get(r.id) ?? 0) + 1);
    expect(new Set(perId.keys())).toEqual(ids);
    expect([...perId.values()].every((n) => n === 1)).toBe(true);
    const delivered = await handles[1]!.query(
      'SELECT count(*)::int AS n FROM otc_outbox WHERE delivered_at IS NOT NULL',
    );
    expect(delivered.rows[0]).toEqual({ n: events });
  });
});
