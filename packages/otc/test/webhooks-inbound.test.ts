// Inbound fiat-rail webhooks on both databases: a signed payment notice is accepted once; forged, wrongly
// keyed, unsigned and stale ones are refused; a replayed webhook-id is refused (sequentially, and on one
// PostgreSQL server when two instances receive it at once); a failed processing does not burn the id;
// every malformed field of the notice is named.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase, type Queryable } from '../src/db/database.ts';
import { migrate } from '../src/db/migrations.ts';
import { OtcError } from '../src/errors.ts';
import { recordInboundOutcome, verifyInbound, type WebhookHeaders } from '../src/webhooks/inbound.ts';
import { createServerDatabase, DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const OTHER_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const config = { secret: SECRET, toleranceSeconds: 300 };

function notice(data: Record<string, unknown> = {}, top: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'payment.received',
    data: {
      paymentReference: 'OTC-7K3F9Q',
      bankReference: 'BNK-2025-000123',
      amount: '1500000',
      currency: 'EUR',
      transferredAt: '2025-01-31T09:30:00Z',
      sourceAccountLast4: '4821',
      ...data,
    },
    ...top,
  });
}

/** Headers the rail sends, signed by the standardwebhooks library. */
function signed(
  body: string,
  opts: { id?: string; atMs?: number; secret?: string } = {},
): Record<string, string> {
  const id = opts.id ?? `msg_${randomBytes(8).toString('hex')}`;
  const at = new Date(opts.atMs ?? Date.now());
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(opts.secret ?? SECRET).sign(id, at, body),
  };
}

async function errorOf(p: Promise<unknown>): Promise<OtcError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(OtcError);
  return e as OtcError;
}

describe.each(DATABASE_KINDS)('inbound fiat-rail webhooks on %s', (kind) => {
  let db: Database;
  beforeAll(async () => {
    db = await freshDatabase(kind);
  });
  afterAll(async () => {
    await db.close();
  });
  beforeEach(async () => {
    await db.query('DELETE FROM otc_inbound_webhooks');
  });

  const receive = (
    body: string,
    headers: WebhookHeaders,
    opts: { now?: () => number; cfg?: typeof config } = {},
  ) => db.transaction((tx) => verifyInbound(tx, opts.cfg ?? config, body, headers, { now: opts.now }));
  const recorded = async () =>
    (
      await db.query<{ webhook_id: string; outcome: string }>(
        'SELECT webhook_id, outcome FROM otc_inbound_webhooks',
      )
    ).rows;

  it('accepts a signed payment notice, parses it and records its webhook-id with the outcome', async () => {
    const body = notice();
    const headers = signed(body, { id: 'msg_first' });
    const got = await db.transaction(async (tx) => {
      const n = await verifyInbound(tx, config, body, headers);
      await recordInboundOutcome(tx, n.webhookId, 'confirmed');
      return n;
    });
    expect(got).toEqual({
      webhookId: 'msg_first',
      type: 'payment.received',
      paymentReference: 'OTC-7K3F9Q',
      bankReference: 'BNK-2025-000123',
      amountMinor: 1_500_000n,
      currency: 'EUR',
      transferredAt: '2025-01-31T09:30:00Z',
      sourceAccountLast4: '4821',
    });
    expect(await recorded()).toEqual([{ webhook_id: 'msg_first', outcome: 'confirmed' }]);
  });

  it('accepts a notice when one of several signatures matches (secret rotation) and headers in any case', async () => {
    const body = notice({ sourceAccountLast4: undefined });
    const h = signed(body);
    const headers = {
      'Webhook-Id': h['webhook-id'],
      'WEBHOOK-TIMESTAMP': h['webhook-timestamp'],
      'webhook-signature': `${signed(body, { id: h['webhook-id'], secret: OTHER_SECRET })['webhook-signature']} ${h['webhook-signature']}`,
    };
    const n = await receive(body, headers);
    expect(n.sourceAccountLast4).toBeUndefined();
  });

  it('refuses a forged notice: body altered after signing (amount raised) — nothing recorded', async () => {
    const headers = signed(notice());
    const e = await errorOf(receive(notice({ amount: '9500000' }), headers));
    expect(e.code).toBe('webhook-invalid');
    expect(e.field).toBe('webhook-signature');
    expect(e.status).toBe(401);
    expect(await recorded()).toEqual([]);
  });

  it('refuses a notice signed with another secret, and one with the id swapped after signing', async () => {
    const body = notice();
    expect((await errorOf(receive(body, signed(body, { secret: OTHER_SECRET })))).code).toBe(
      'webhook-invalid',
    );
    const headers = { ...signed(body), 'webhook-id': 'msg_other' };
    expect((await errorOf(receive(body, headers))).field).toBe('webhook-signature');
    expect(await recorded()).toEqual([]);
  });

  it('refuses missing or duplicated headers, naming the header', async () => {
    const body = notice();
    const h = signed(body);
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const { [name]: _, ...rest } = h;
      const e = await errorOf(receive(body, rest));
      expect([e.code, e.field]).toEqual(['webhook-invalid', name]);
    }
    const twice = await errorOf(receive(body, { ...h, 'webhook-id': [h['webhook-id']!, 'msg_x'] }));
    expect(twice.field).toBe('webhook-id');
  });

  it('refuses a stale or future timestamp outside the tolerance — a captured webhook replayed later', async () => {
    const now = Date.now();
    const body = notice();
    for (const skewS of [-301, 301, -3600]) {
      const e = await errorOf(receive(body, signed(body, { atMs: now + skewS * 1000 }), { now: () => now }));
      expect([e.code, e.field]).toEqual(['webhook-invalid', 'webhook-timestamp']);
    }
    await receive(body, signed(body, { atMs: now - 299_000 }), { now: () => now });
    const strict = { ...config, toleranceSeconds: 60 };
    const e = await errorOf(
      receive(body, signed(body, { atMs: now - 61_000 }), { now: () => now, cfg: strict }),
    );
    expect(e.field).toBe('webhook-timestamp');
    const bad = await errorOf(receive(body, { ...signed(body), 'webhook-timestamp': '1.5e9' }));
    expect(bad.field).toBe('webhook-timestamp');
  });

  it('refuses a replayed webhook-id, even re-signed with a fresh timestamp and another body', async () => {
    const body = notice();
    await receive(body, signed(body, { id: 'msg_replay' }));
    const again = await errorOf(receive(body, signed(body, { id: 'msg_replay' })));
    expect([again.code, again.status]).toEqual(['webhook-replayed', 409]);
    const other = notice({ bankReference: 'BNK-2' });
    expect((await errorOf(receive(other, signed(other, { id: 'msg_replay' })))).code).toBe(
      'webhook-replayed',
    );
    expect(await recorded()).toEqual([{ webhook_id: 'msg_replay', outcome: 'received' }]);
  });

  it('does not burn the id when processing fails: the rail’s retry of the same webhook is accepted', async () => {
    const body = notice();
    const headers = signed(body, { id: 'msg_retry' });
    await expect(
      db.transaction(async (tx) => {
        await verifyInbound(tx, config, body, headers);
        throw new Error('order store unavailable');
      }),
    ).rejects.toThrow('order store unavailable');
    expect(await recorded()).toEqual([]);
    expect((await receive(body, headers)).webhookId).toBe('msg_retry');
  });

  it('refuses to record an id outside the caller’s transaction', async () => {
    const body = notice();
    const e = await errorOf(verifyInbound(db, config, body, signed(body)));
    expect(e.code).toBe('internal');
  });

  const malformed: [string, string, string][] = [
    ['not JSON', '{"type":', 'body'],
    ['an array', '[]', 'body'],
    ['another type', JSON.stringify({ type: 'payment.reversed', data: {} }), 'type'],
    ['an unknown top-level field', notice({}, { extra: 1 }), 'extra'],
    ['a bad timestamp', notice({}, { timestamp: 'yesterday' }), 'timestamp'],
    ['no data', JSON.stringify({ type: 'payment.received' }), 'data'],
    ['an unknown data field', notice({ iban: 'DE89…' }), 'data.iban'],
    ['a missing paymentReference', notice({ paymentReference: undefined }), 'data.paymentReference'],
    ['a paymentReference with spaces', notice({ paymentReference: 'OTC 1' }), 'data.paymentReference'],
    ['a numeric bankReference', notice({ bankReference: 123 }), 'data.bankReference'],
    ['an amount as a JSON number', notice({ amount: 1500000 }), 'data.amount'],
    ['a decimal amount', notice({ amount: '15000.00' }), 'data.amount'],
    ['a negative amount', notice({ amount: '-1' }), 'data.amount'],
    ['a zero amount', notice({ amount: '0' }), 'data.amount'],
    ['a lower-case currency', notice({ currency: 'eur' }), 'data.currency'],
    [
      'a transferredAt without offset',
      notice({ transferredAt: '2025-01-31T09:30:00' }),
      'data.transferredAt',
    ],
    [
      'a transferredAt on 30 February',
      notice({ transferredAt: '2025-02-30T09:30:00Z' }),
      'data.transferredAt',
    ],
    [
      'a transferredAt in the future',
      notice({ transferredAt: '2999-01-01T00:00:00Z' }),
      'data.transferredAt',
    ],
    ['a five-digit sourceAccountLast4', notice({ sourceAccountLast4: '48210' }), 'data.sourceAccountLast4'],
  ];
  it.each(malformed)(
    'refuses a signed notice with %s, naming %s and recording nothing',
    async (_what, body, field) => {
      const e = await errorOf(receive(body, signed(body)));
      expect([e.code, e.field]).toEqual(['invalid-request', field]);
      expect(await recorded()).toEqual([]);
    },
  );
});

describe('inbound webhooks: two service instances on one PostgreSQL server', () => {
  const handles: Database[] = [];
  beforeAll(async () => {
    const url = await createServerDatabase();
    handles.push(await openDatabase({ url }), await openDatabase({ url }));
    await migrate(handles[0]!);
  });
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.close()));
  });

  /** One instance receiving the webhook: verify, then "process" for a while before committing or failing. */
  const process = (db: Database, body: string, headers: WebhookHeaders, fail = false) =>
    db.transaction(async (tx: Queryable) => {
      const n = await verifyInbound(tx, config, body, headers);
      await new Promise((r) => setTimeout(r, 150));
      if (fail) throw new Error('processing failed');
      return n.webhookId;
    });

  it('accepts a webhook delivered to both at once exactly once — the other is a replay (double confirmation)', async () => {
    const body = notice();
    const headers = signed(body, { id: 'msg_race' });
    const results = await Promise.allSettled(handles.map((h) => process(h, body, headers)));
    const accepted = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(((refused[0] as PromiseRejectedResult).reason as OtcError).code).toBe('webhook-replayed');
  });

  it('lets the waiting instance proceed when the first one’s processing fails', async () => {
    const body = notice();
    const headers = signed(body, { id: 'msg_race_fail' });
    const first = process(handles[0]!, body, headers, true);
    await new Promise((r) => setTimeout(r, 50));
    const second = process(handles[1]!, body, headers);
    await expect(first).rejects.toThrow('processing failed');
    expect(await second).toBe('msg_race_fail');
  });
});
