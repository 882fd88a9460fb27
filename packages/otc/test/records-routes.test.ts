// The records routes on both databases through the in-process desk: ledger balances, reconciliation
// (report and run), the daily and trade reports (JSON and CSV), the audit log and its verification, the
// webhook delivery log and resend; role refusals and bad query parameters named by field.
//
// No signer cluster or chain runs in this fast test: `StandInNodes` answers the custody calls the way the
// nodes and anvil do (a request per idempotency key, broadcast and confirmed; its transfer intent; the hot
// wallet's balance), so the real release worker settles the ledger and completes the orders. The release
// path itself is tested against the real cluster in custody.slow.test.ts. One stand-in can be told to
// report another amount for a request than the desk asked for: a delivery the nodes did not make as booked.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AssetConfig } from '../src/config/types.ts';
import type { Database } from '../src/db/database.ts';
import { checkLedger, fundInventory } from '../src/ledger/ledger.ts';
import type { Custody, ReleasedTransfer, ReleaseStatus } from '../src/orders/deps.ts';
import { DATABASE_KINDS, freshDatabase } from './helpers/db.ts';
import { type TestDesk, testDesk } from './helpers/desk.ts';

const CUSTOMER = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const ETH = 10n ** 18n;

class StandInNodes implements Custody {
  readonly byKey = new Map<string, ReleaseStatus & ReleasedTransfer>();
  /** Amount the nodes will say they transferred for the next release, instead of the one asked for. */
  lieAboutAmount: bigint | undefined;
  hotBalance = 0n;

  async release(r: Parameters<Custody['release']>[0]): Promise<ReleaseStatus> {
    const existing = this.byKey.get(r.idempotencyKey);
    if (existing !== undefined) return existing;
    const made = {
      requestId: `req-${randomBytes(12).toString('hex')}`,
      nodeStatus: 'confirmed',
      txHash: `0x${randomBytes(32).toString('hex')}`,
      to: r.to,
      amount: this.lieAboutAmount ?? r.amount,
    };
    this.lieAboutAmount = undefined;
    this.byKey.set(r.idempotencyKey, made);
    return made;
  }
  async lookup(key: string): Promise<ReleaseStatus | undefined> {
    return this.byKey.get(key);
  }
  async status(requestId: string): Promise<ReleaseStatus> {
    const found = [...this.byKey.values()].find((s) => s.requestId === requestId);
    if (found === undefined) throw new Error(`no request ${requestId}`);
    return found;
  }
  async confirmations(_asset: AssetConfig, txHash: string): Promise<number | undefined> {
    return [...this.byKey.values()].some((s) => s.txHash === txHash) ? 3 : undefined;
  }
  async balanceOf(): Promise<bigint> {
    return this.hotBalance;
  }
  async releasedTransfer(requestId: string): Promise<ReleasedTransfer> {
    const s = [...this.byKey.values()].find((x) => x.requestId === requestId);
    if (s === undefined) throw new Error(`no request ${requestId}`);
    return { to: s.to, amount: s.amount, ...(s.txHash !== undefined ? { txHash: s.txHash } : {}) };
  }
}

describe.each(DATABASE_KINDS)('records routes on %s', (kind) => {
  let db: Database;
  let t: TestDesk;
  const nodes = new StandInNodes();
  const orders: Record<string, string> = {};
  let window: string;

  /** A buy order through the routes to paid; the release worker (stand-in nodes) completes it. */
  async function completedOrder(clientId: string, amount: bigint, bankReference: string): Promise<string> {
    await t.call('PUT', `/v1/clients/${clientId}`, 'desk-backend', { kycTier: 'basic', country: 'DE' });
    const quote = await t.call('POST', '/v1/quotes', 'desk-backend', {
      clientId,
      side: 'buy',
      asset: 'ETH',
      amount: amount.toString(),
      fiatCurrency: 'USD',
      kind: 'firm',
    });
    const created = await t.call('POST', '/v1/orders', 'desk-backend', {
      clientId,
      quoteToken: quote.body.token,
      destination: CUSTOMER,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const evidence = await t.call('POST', '/v1/fiat/evidence', 'olivia', {
      paymentReference: created.body.paymentReference,
      bankReference,
      amount: quote.body.fiatAmount,
      currency: 'USD',
      transferredAt: new Date(t.clock.now).toISOString(),
    });
    expect(evidence.body.outcome).toBe('paid');
    const id = String(created.body.id);
    for (let i = 0; i < 3; i++) {
      await t.desk.worker.tick();
      if ((await t.call('GET', `/v1/orders/${id}`, 'audrey')).body.status === 'completed') return id;
    }
    throw new Error(`order ${id} did not complete`);
  }

  beforeAll(async () => {
    db = await freshDatabase(kind);
    t = await testDesk(db, { custody: nodes });
    await db.transaction((tx) => fundInventory(tx, { asset: 'ETH', amount: 10n * ETH, reference: 'seed' }));
    orders.good = await completedOrder('c-rec-1', ETH, 'BANK-REC-1');
    nodes.lieAboutAmount = ETH / 2n;
    orders.short = await completedOrder('c-rec-2', ETH / 10n, 'BANK-REC-2');
    // The chain holds what the ledger says the hot wallet holds after both deliveries.
    nodes.hotBalance = 10n * ETH - ETH - ETH / 10n;
    const hour = 3_600_000;
    window = `from=${new Date(Date.now() - hour).toISOString()}&to=${new Date(Date.now() + hour).toISOString()}`;
  }, 120_000);
  afterAll(async () => {
    await t.close();
    await db.close();
  });

  it('lists the configured assets and fiat currencies with their decimals', async () => {
    const r = await t.call('GET', '/v1/assets', 'olivia');
    expect(r.body).toEqual({
      assets: [
        { id: 'ETH', chain: 'evm', decimals: 18 },
        { id: 'BTC', chain: 'bitcoin', decimals: 8 },
      ],
      fiat: [
        { code: 'USD', decimals: 2 },
        { code: 'EUR', decimals: 2 },
      ],
    });
  });

  it('lists ledger accounts with posted, pending and available as decimal strings, filtered', async () => {
    const house = await t.call('GET', '/v1/ledger/balances?asset=ETH&owner=house', 'audrey');
    expect(house.status).toBe(200);
    expect(house.body.accounts).toEqual([
      {
        id: 'house:hot:ETH',
        asset: 'ETH',
        ownerKind: 'house',
        ownerId: null,
        noOverdraft: true,
        posted: (10n * ETH - ETH - ETH / 10n).toString(),
        pendingDebits: '0',
        pendingCredits: '0',
        available: (10n * ETH - ETH - ETH / 10n).toString(),
      },
    ]);
    const client = await t.call('GET', '/v1/ledger/balances?clientId=c-rec-1', 'carla');
    const ids = (client.body.accounts as { id: string; posted: string }[]).map((a) => [a.id, a.posted]);
    // The customer's accounts net to zero once the order is settled.
    expect(ids).toEqual([
      ['client:c-rec-1:ETH', '0'],
      ['client:c-rec-1:USD', '0'],
    ]);
  });

  it('reconciles: the booked delivery matches; the one the nodes made for half the amount is listed', async () => {
    const r = await t.call('GET', `/v1/reconciliation?${window}`, 'audrey');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.matchedOrderIds).toEqual([orders.good]);
    const items = r.body.items as { kind: string; orderId?: string; externalAmount?: string }[];
    expect(items).toEqual([
      expect.objectContaining({
        kind: 'chain-amount-mismatch',
        orderId: orders.short,
        externalAmount: (ETH / 2n).toString(),
      }),
    ]);
    expect(r.body.counts).toMatchObject({ deliveries: 2, deliveriesMatched: 1, hotWalletsMatched: 1 });
  });

  it('run marks only the matching completed order reconciled and lists the other (chain-amount-mismatch loss)', async () => {
    const body = Object.fromEntries(new URLSearchParams(window));
    const run = await t.call('POST', '/v1/reconciliation/run', 'carla', body);
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.reconciled).toEqual([orders.good]);
    expect(run.body.unmatched).toEqual([
      { orderId: orders.short, reasons: [expect.stringMatching(/^chain-amount-mismatch: /)] },
    ]);
    expect((await t.call('GET', `/v1/orders/${orders.good}`, 'audrey')).body.status).toBe('reconciled');
    expect((await t.call('GET', `/v1/orders/${orders.short}`, 'audrey')).body.status).toBe('completed');
    const events = (await t.call('GET', `/v1/orders/${orders.good}/events`, 'audrey')).body.events as {
      event: string;
      actor: string;
    }[];
    expect(events.at(-1)).toMatchObject({ event: 'reconcile', actor: 'carla' });
    // A second run has nothing left to move and still lists the mismatch.
    const again = await t.call('POST', '/v1/reconciliation/run', 'adam', body);
    expect(again.body.reconciled).toEqual([]);
    expect((again.body.unmatched as { orderId: string }[]).map((u) => u.orderId)).toEqual([orders.short]);
    expect(await checkLedger(db)).toEqual({ balanced: true, problems: [] });
  });

  it('builds the daily report with the ledger check and the day’s totals', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const r = await t.call('GET', `/v1/reports/daily?day=${day}`, 'carla');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.ledger).toEqual({ balanced: true, problems: [] });
    const totals = r.body.totals as { asset: string; code: string; amount: string }[];
    expect(totals).toContainEqual(
      expect.objectContaining({
        asset: 'ETH',
        code: 'crypto_delivered',
        amount: (ETH + ETH / 10n).toString(),
      }),
    );
  });

  it('exports trades as JSON with filters and as a CSV file', async () => {
    const json = await t.call(
      'GET',
      '/v1/reports/trades?clientId=c-rec-1&asset=ETH&fiatCurrency=USD',
      'audrey',
    );
    expect(json.status).toBe(200);
    const trades = json.body.trades as { orderId: string; status: string; amountBaseUnits: string }[];
    expect(trades.map((x) => [x.orderId, x.status, x.amountBaseUnits])).toEqual([
      [orders.good, 'reconciled', ETH.toString()],
    ]);
    const csv = await t.call('GET', `/v1/reports/trades?format=csv&${window}`, 'carla');
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toMatch(
      /^attachment; filename="otc-trades-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv"$/,
    );
    const lines = String(csv.body.text).trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^order_id,created_at,/);
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual([orders.good, orders.short]);
  });

  it('exports the audit log as JSON and JSON lines, and verifies it (with a recorded head)', async () => {
    const page = await t.call('GET', '/v1/audit?fromSeq=2&limit=3', 'audrey');
    expect((page.body.entries as { seq: number }[]).map((e) => e.seq)).toEqual([2, 3, 4]);
    // JSON lines start with '{' like a JSON answer: read the raw text rather than through `call`.
    const lines = await t.app.inject({
      method: 'GET',
      url: '/v1/audit?limit=2&format=jsonl',
      headers: { authorization: `Bearer ${t.dev.tokens.carla}` },
    });
    expect(lines.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const parsed = lines.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number });
    expect(parsed.map((e) => e.seq)).toEqual([1, 2]);
    const verify = await t.call('GET', '/v1/audit/verify', 'adam');
    expect(verify.body).toMatchObject({ ok: true, problems: [] });
    const head = verify.body.head as { seq: number; hash: string };
    const pinned = await t.call(
      'GET',
      `/v1/audit/verify?headSeq=${head.seq}&headHash=${head.hash}`,
      'audrey',
    );
    expect(pinned.body.ok).toBe(true);
    const wrong = await t.call(
      'GET',
      `/v1/audit/verify?headSeq=${head.seq}&headHash=${'0'.repeat(64)}`,
      'audrey',
    );
    expect(wrong.body.ok).toBe(false);
  });

  it('shows an event’s delivery log and resends a failed one (admin), refusing one still pending', async () => {
    const r = await db.query<{ id: string }>(
      'SELECT id FROM otc_outbox WHERE order_id = $1 ORDER BY created_at, id LIMIT 2',
      [orders.good],
    );
    const [failed, pending] = r.rows.map((row) => row.id);
    const log = await t.call('GET', `/v1/webhooks/events/${pending}`, 'audrey');
    expect(log.body).toMatchObject({ eventId: pending, state: 'pending', orderId: orders.good, log: [] });
    const busy = await t.call('POST', `/v1/webhooks/events/${pending}/resend`, 'adam', {});
    expect(busy.status).toBe(409);
    // No dispatcher runs here (no outbound URL): the three-day schedule's end is written directly.
    await db.query('UPDATE otc_outbox SET failed_at = now(), attempts = 40 WHERE id = $1', [failed]);
    expect((await t.call('GET', `/v1/webhooks/events/${failed}`, 'adam')).body.state).toBe('failed');
    const resent = await t.call('POST', `/v1/webhooks/events/${failed}/resend`, 'adam', {});
    expect(resent.status, JSON.stringify(resent.body)).toBe(202);
    expect(resent.body).toMatchObject({ eventId: failed, state: 'pending', attempts: 0 });
    const missing = await t.call('GET', `/v1/webhooks/events/evt_${'0'.repeat(24)}`, 'adam');
    expect(missing.status).toBe(404);
  });

  it('refuses roles the records are not for', async () => {
    const refusals: [string, string, string, unknown?][] = [
      ['GET', `/v1/reconciliation?${window}`, 'olivia'],
      ['POST', '/v1/reconciliation/run', 'audrey', Object.fromEntries(new URLSearchParams(window))],
      ['GET', '/v1/reports/trades', 'desk-backend'],
      ['GET', '/v1/audit', 'oscar'],
      ['GET', '/v1/ledger/balances', 'olivia'],
      ['GET', `/v1/webhooks/events/evt_${'0'.repeat(24)}`, 'carla'],
      ['POST', `/v1/webhooks/events/evt_${'0'.repeat(24)}/resend`, 'audrey', {}],
    ];
    for (const [method, path, who, body] of refusals) {
      const r = await t.call(method as 'GET' | 'POST', path, who, body);
      expect(r.status, `${method} ${path} as ${who}`).toBe(403);
      expect(r.body.code).toBe('forbidden');
    }
  });

  it('names the field of every bad query parameter', async () => {
    const cases: [string, string][] = [
      ['/v1/reconciliation?from=yesterday&to=2030-01-01T00:00:00Z', 'from'],
      ['/v1/reconciliation?from=2030-01-01T00:00:00Z', 'to'],
      ['/v1/reconciliation?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z', 'to'],
      [`/v1/reconciliation?${window}&asset=ETH`, 'asset'],
      ['/v1/reports/daily?day=2024-02-30', 'day'],
      ['/v1/reports/daily', 'day'],
      ['/v1/reports/trades?format=xml', 'format'],
      ['/v1/reports/trades?fiatCurrency=usd', 'fiatCurrency'],
      ['/v1/reports/trades?limit=0', 'limit'],
      ['/v1/audit?fromSeq=-1', 'fromSeq'],
      ['/v1/audit/verify?headSeq=3', 'headHash'],
      ['/v1/ledger/balances?owner=bank', 'owner'],
      ['/v1/ledger/balances?owner=house&clientId=c-rec-1', 'clientId'],
      ['/v1/webhooks/events/12', 'id'],
    ];
    for (const [path, field] of cases) {
      const r = await t.call('GET', path, 'adam');
      expect(r.status, path).toBe(400);
      expect(r.body, path).toMatchObject({ code: 'invalid-request', field });
    }
  });
});
