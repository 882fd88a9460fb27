// Reconciliation and trade reports on both databases. Each reconciliation case builds its orders inside a
// transaction that is rolled back afterwards, so the reports see exactly that case's ledger. The chain is a
// table of answers keyed by transaction hash (the lookup is injected; no chain runs here).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../src/db/database.ts';
import { OtcError } from '../src/errors.ts';
import {
  accountIds,
  accountSpecs,
  checkLedger,
  ensureAccount,
  fundInventory,
  post,
  recordFiatReceived,
  reserveInventory,
  settleBuy,
} from '../src/ledger/ledger.ts';
import { type ChainTx, dailyReport, reconcile } from '../src/reports/reconcile.ts';
import { csvCell, type TradeRow, toCsv, tradeReport } from '../src/reports/trades.ts';
import { DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

const DEST = '0x00000000000000000000000000000000000000Aa';

type OrderSpec = {
  id: string;
  clientId?: string;
  asset?: string;
  amount?: bigint;
  fiat?: string;
  fiatAmount?: bigint;
  status?: string;
  destination?: string;
  releaseRequestId?: string | null;
  txHash?: string | null;
  paymentReference?: string;
};

/** A client, its firm quote and a buy order row, as the order service writes them. */
async function insertOrder(q: Queryable, spec: OrderSpec): Promise<Required<OrderSpec>> {
  const o: Required<OrderSpec> = {
    clientId: 'c-1',
    asset: 'ETH',
    amount: 5n,
    fiat: 'USD',
    fiatAmount: 1000n,
    status: 'completed',
    destination: DEST,
    releaseRequestId: `req-${spec.id}`,
    txHash: `0x${spec.id}`,
    paymentReference: `ref-${spec.id}`,
    ...spec,
  };
  await q.query(
    `INSERT INTO otc_clients (id, kyc_tier, country) VALUES ($1, 'basic', 'DE') ON CONFLICT (id) DO NOTHING`,
    [o.clientId],
  );
  await q.query(
    `INSERT INTO otc_quotes (id, kind, client_id, side, asset, amount, fiat_currency, price_minor, fiat_amount,
       mid_price_minor, spread_bps, price_source, price_at, expires_at)
     VALUES ($1, 'firm', $2, 'buy', $3, $4, $5, 200, $6, 200, 0, 'test', now(), now() + interval '1 minute')`,
    [`q-${o.id}`, o.clientId, o.asset, o.amount.toString(), o.fiat, o.fiatAmount.toString()],
  );
  await q.query(
    `INSERT INTO otc_orders (id, side, client_id, quote_id, asset, chain, amount, fiat_currency, fiat_amount,
       price_minor, destination, status, payment_reference, payment_deadline, release_request_id, tx_hash)
     VALUES ($1, 'buy', $2, $3, $4, 'evm', $5, $6, $7, 200, $8, $9, $10, now() + interval '1 hour', $11, $12)`,
    [
      o.id,
      o.clientId,
      `q-${o.id}`,
      o.asset,
      o.amount.toString(),
      o.fiat,
      o.fiatAmount.toString(),
      o.destination,
      o.status,
      o.paymentReference,
      o.releaseRequestId,
      o.txHash,
    ],
  );
  return o;
}

async function insertEvidence(
  q: Queryable,
  e: { id: string; orderId: string | null; amount: bigint; currency?: string },
): Promise<void> {
  await q.query(
    `INSERT INTO otc_fiat_evidence (id, order_id, source, bank_reference, payment_reference, amount_minor, currency,
       transferred_at, recorded_by)
     VALUES ($1, $2, 'manual', $3, $4, $5, $6, now(), 'ops-1')`,
    [e.id, e.orderId, `bank-${e.id}`, `ref-${e.orderId}`, e.amount.toString(), e.currency ?? 'USD'],
  );
}

/**
 * A buy order taken through the whole ledger recipe. `evidence` chooses how the bank evidence relates to
 * the fiat receipt: equal, another amount, or absent.
 */
async function settledOrder(
  q: Queryable,
  spec: OrderSpec & { evidence?: 'match' | 'differs' | 'missing' },
): Promise<Required<OrderSpec>> {
  const o = await insertOrder(q, spec);
  await fundInventory(q, { asset: o.asset, amount: o.amount, reference: `fund-${o.id}` });
  const ids = { orderId: o.id, clientId: o.clientId, fiat: o.fiat };
  await reserveInventory(q, { ...ids, asset: o.asset, amount: o.amount });
  const evidenceId = `ev-${o.id}`;
  const evidence = spec.evidence ?? 'match';
  if (evidence !== 'missing')
    await insertEvidence(q, {
      id: evidenceId,
      orderId: o.id,
      amount: evidence === 'match' ? o.fiatAmount : o.fiatAmount + 100n,
    });
  await recordFiatReceived(q, { ...ids, amount: o.fiatAmount, evidenceId });
  await settleBuy(q, { ...ids, asset: o.asset, amount: o.amount, fiatAmount: o.fiatAmount });
  return o;
}

const ROLLBACK = new Error('rollback');
/** Runs `fn` in a transaction that is always rolled back, returning what `fn` returned. */
async function inRollback<T>(db: Database, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  let result: T | undefined;
  await db
    .transaction(async (tx) => {
      result = await fn(tx);
      throw ROLLBACK;
    })
    .catch((e: unknown) => {
      if (e !== ROLLBACK) throw e;
    });
  return result as T;
}

/** The window around the transaction's clock (every row of a case carries its start time). */
async function window(tx: Queryable): Promise<{ from: Date; to: Date }> {
  const r = await tx.query<{ now: Date | string }>('SELECT now() AS now');
  const now = new Date(r.rows[0]!.now).getTime();
  return { from: new Date(now - 3600_000), to: new Date(now + 3600_000) };
}

/** A chain that answers from a table: a correct answer for each order unless overridden. */
function chainOf(answers: Record<string, ChainTx | Error | undefined>) {
  const asked: string[] = [];
  const lookup = async (txHash: string): Promise<ChainTx | undefined> => {
    asked.push(txHash);
    const a = answers[txHash];
    if (a instanceof Error) throw a;
    return a;
  };
  return { lookup, asked };
}

const onChain = (o: Required<OrderSpec>, change: Partial<ChainTx> = {}): ChainTx => ({
  found: true,
  to: o.destination,
  amount: o.amount,
  asset: o.asset,
  confirmations: 12,
  ...change,
});

describe.each(DATABASE_KINDS)('reports on %s', (kind) => {
  let db: Database;
  beforeAll(async () => {
    db = await freshDatabase(kind);
  });
  afterAll(async () => {
    await db.close();
  });

  it('matches a clean buy 1:1 (chain, evidence, hot wallet) and names it ready to reconcile', async () => {
    const report = await inRollback(db, async (tx) => {
      const o = await settledOrder(tx, { id: 'good', destination: DEST });
      await fundInventory(tx, { asset: 'ETH', amount: 7n, reference: 'topup' });
      // The chain answers with the address lower-cased: EVM addresses compare without case.
      const chain = chainOf({ '0xgood': onChain(o, { to: DEST.toLowerCase() }) });
      const r = await reconcile(
        tx,
        { ...(await window(tx)), hotWallets: [{ asset: 'ETH', onChainBalance: 7n }] },
        chain.lookup,
      );
      expect(chain.asked).toEqual(['0xgood']);
      expect(await checkLedger(tx)).toEqual({ balanced: true, problems: [] });
      return r;
    });
    expect(report.items).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.matchedOrderIds).toEqual(['good']);
    expect(report.counts).toEqual({
      deliveries: 1,
      deliveriesMatched: 1,
      fiatEntries: 1,
      fiatEntriesMatched: 1,
      evidence: 1,
      evidenceMatched: 1,
      hotWallets: 1,
      hotWalletsMatched: 1,
      items: 0,
    });
  });

  it('lists every kind of unmatched or drifting item with its reason', async () => {
    const report = await inRollback(db, async (tx) => {
      const o = {
        good: await settledOrder(tx, { id: 'good' }),
        noTx: await settledOrder(tx, { id: 'notx', txHash: null }),
        noRelease: await settledOrder(tx, { id: 'norel', releaseRequestId: null }),
        short: await settledOrder(tx, { id: 'short' }),
        missing: await settledOrder(tx, { id: 'missing' }),
        elsewhere: await settledOrder(tx, { id: 'elsewhere' }),
        pending: await settledOrder(tx, { id: 'pending' }),
        broken: await settledOrder(tx, { id: 'broken' }),
        shared1: await settledOrder(tx, { id: 'shared1', txHash: '0xsame' }),
        shared2: await settledOrder(tx, { id: 'shared2', txHash: '0xsame' }),
        moreEvidence: await settledOrder(tx, { id: 'moreev', evidence: 'differs' }),
        noEvidence: await settledOrder(tx, { id: 'noev', evidence: 'missing' }),
      };
      await insertOrder(tx, { id: 'undelivered', status: 'completed' });
      await insertOrder(tx, {
        id: 'unpaid',
        status: 'awaiting_payment',
        txHash: null,
        releaseRequestId: null,
      });
      await insertEvidence(tx, { id: 'ev-orphan', orderId: 'unpaid', amount: 1000n });
      await insertEvidence(tx, { id: 'ev-stray', orderId: null, amount: 55n, currency: 'EUR' });
      const chain = chainOf({
        '0xgood': onChain(o.good),
        '0xnorel': onChain(o.noRelease),
        '0xshort': onChain(o.short, { amount: 4n }),
        '0xmissing': { found: false },
        '0xelsewhere': onChain(o.elsewhere, { to: '0x00000000000000000000000000000000000000bb' }),
        '0xpending': onChain(o.pending, { confirmations: 0 }),
        '0xbroken': new Error('RPC timed out'),
        '0xsame': onChain(o.shared1),
        '0xmoreev': onChain(o.moreEvidence),
        '0xnoev': onChain(o.noEvidence),
      });
      const wallets = [{ asset: 'ETH', onChainBalance: 21_000n }];
      return reconcile(tx, { ...(await window(tx)), hotWallets: wallets }, chain.lookup);
    });
    const got = report.items.map((i) => `${i.kind} ${i.orderId ?? i.evidenceId ?? i.asset}`).sort();
    expect(got).toEqual(
      [
        'delivery-without-chain-tx notx',
        'delivery-without-release norel',
        'chain-amount-mismatch short',
        'chain-tx-not-found missing',
        'chain-destination-mismatch elsewhere',
        'chain-tx-unconfirmed pending',
        'chain-lookup-failed broken',
        'chain-tx-shared shared1',
        'chain-tx-shared shared2',
        'fiat-amount-mismatch moreev',
        'fiat-without-evidence noev',
        'completed-without-delivery undelivered',
        'evidence-without-ledger-entry unpaid',
        'evidence-without-ledger-entry ev-stray',
        'hot-wallet-drift ETH',
      ].sort(),
    );
    const by = (kind: string) => report.items.find((i) => i.kind === kind)!;
    expect(by('chain-amount-mismatch')).toMatchObject({
      ledgerAmount: '5',
      externalAmount: '4',
      txHash: '0xshort',
      reason: 'the chain moved 4, the ledger delivered 5',
    });
    expect(by('chain-lookup-failed').reason).toContain('RPC timed out');
    expect(by('fiat-amount-mismatch')).toMatchObject({ ledgerAmount: '1000', externalAmount: '1100' });
    expect(by('hot-wallet-drift')).toMatchObject({ ledgerAmount: '0', externalAmount: '21000' });
    // Delivered and matched on the chain: good, moreev and noev; only good has nothing against it.
    expect(report.matchedOrderIds).toEqual(['good']);
    expect(report.ok).toBe(false);
    expect(report.counts).toEqual({
      deliveries: 12,
      deliveriesMatched: 3,
      fiatEntries: 12,
      fiatEntriesMatched: 10,
      evidence: 13,
      evidenceMatched: 11,
      hotWallets: 1,
      hotWalletsMatched: 0,
      items: 15,
    });
  });

  it('lists ledger-side mismatches: deliveries without order or twice, wrong amount, asset or hash; misused evidence', async () => {
    const report = await inRollback(db, async (tx) => {
      // Crypto credited to a client by hand, so deliveries can be posted outside the recipe.
      const credit = async (clientId: string, amount: bigint, id: string) => {
        await ensureAccount(tx, accountSpecs.externalChain('ETH'));
        await ensureAccount(tx, accountSpecs.clientAsset(clientId, 'ETH'));
        await post(tx, {
          id,
          debit: accountIds.externalChain('ETH'),
          credit: accountIds.clientAsset(clientId, 'ETH'),
          asset: 'ETH',
          amount,
          code: 'test_credit',
        });
      };
      const deliver = (clientId: string, orderId: string, amount: bigint, id: string) =>
        post(tx, {
          id,
          debit: accountIds.clientAsset(clientId, 'ETH'),
          credit: accountIds.externalChain('ETH'),
          asset: 'ETH',
          amount,
          orderId,
          code: 'crypto_delivered',
        });
      await credit('c-1', 30n, 'credit-1');
      await deliver('c-1', 'ghost', 1n, 'd-ghost');
      const diff = await insertOrder(tx, { id: 'diff', amount: 5n });
      await deliver('c-1', 'diff', 4n, 'd-diff');
      const twice = await settledOrder(tx, { id: 'twice' });
      await deliver('c-1', 'twice', 5n, 'd-twice-again');
      const hashed = await insertOrder(tx, { id: 'hashed', txHash: '0xrecorded' });
      await deliver('c-1', 'hashed', 5n, 'd-hashed');
      await tx.query(`UPDATE otc_transfers SET detail = '{"txHash":"0xother"}' WHERE id = 'd-hashed'`);
      // Fiat: evidence in another currency, evidence of another order, one evidence behind two receipts.
      const fiat = async (orderId: string, evidenceId: string) =>
        recordFiatReceived(tx, { orderId, clientId: 'c-1', fiat: 'USD', amount: 1000n, evidenceId });
      await insertOrder(tx, { id: 'f1', txHash: null, status: 'paid' });
      await insertOrder(tx, { id: 'f2', txHash: null, status: 'paid' });
      await insertOrder(tx, { id: 'f3', txHash: null, status: 'paid' });
      await insertEvidence(tx, { id: 'ev-eur', orderId: 'f1', amount: 1000n, currency: 'EUR' });
      await insertEvidence(tx, { id: 'ev-f2', orderId: 'f2', amount: 1000n });
      await fiat('f1', 'ev-eur');
      await fiat('f3', 'ev-f2');
      await fiat('f2', 'ev-f2');
      const chain = chainOf({
        '0xdiff': onChain(diff, { amount: 4n, asset: 'USDC' }),
        '0xtwice': onChain(twice),
        '0xrecorded': onChain(hashed),
      });
      return reconcile(tx, await window(tx), chain.lookup);
    });
    const got = report.items.map((i) => `${i.kind} ${i.orderId ?? i.transferId}`).sort();
    expect(got).toEqual(
      [
        'delivery-without-order ghost',
        'delivery-amount-differs-from-order diff',
        'chain-asset-mismatch diff',
        'duplicate-delivery twice',
        'duplicate-delivery twice',
        'delivery-tx-differs-from-order hashed',
        'fiat-currency-mismatch f1',
        'fiat-order-mismatch f3',
        'evidence-used-twice f3',
        'evidence-used-twice f2',
      ].sort(),
    );
  });

  it('a chain answer of the wrong shape is an item, not a crash (the lookup is outside input)', async () => {
    const report = await inRollback(db, async (tx) => {
      await settledOrder(tx, { id: 'odd' });
      const lookup = async () =>
        ({ found: true, to: DEST, amount: 5, asset: 'ETH', confirmations: 3 }) as never;
      return reconcile(tx, await window(tx), lookup);
    });
    expect(report.items).toMatchObject([
      {
        kind: 'chain-lookup-failed',
        orderId: 'odd',
        reason: "the chain lookup's answer amount is not a non-negative bigint",
      },
    ]);
  });

  it('refuses a bad window or hot-wallet entry, naming the field', async () => {
    const now = new Date();
    const before = new Date(now.getTime() - 1000);
    const lookup = async () => undefined;
    const cases: [Parameters<typeof reconcile>[1], string][] = [
      [{ from: now, to: now }, 'to'],
      [{ from: new Date('nope'), to: now }, 'from'],
      [{ from: new Date(0), to: now }, 'to'],
      [{ from: before, to: now, minConfirmations: -1 }, 'minConfirmations'],
      [{ from: before, to: now, hotWallets: [{ asset: 'eth', onChainBalance: 1n }] }, 'hotWallets[0].asset'],
      [
        { from: before, to: now, hotWallets: [{ asset: 'ETH', onChainBalance: -1n }] },
        'hotWallets[0].onChainBalance',
      ],
    ];
    for (const [opts, field] of cases) {
      const e = await reconcile(db, opts, lookup).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(OtcError);
      expect((e as OtcError).field).toBe(field);
    }
    for (const day of ['2024-02-30', '2024-2-01', 'yesterday']) {
      const e = await dailyReport(db, day, lookup).catch((x: unknown) => x);
      expect((e as OtcError).field).toBe('day');
    }
  });

  it('the daily report reconciles the UTC day and totals its transfers per asset and code', async () => {
    const daily = await inRollback(db, async (tx) => {
      const o = await settledOrder(tx, { id: 'day', amount: 3n, fiatAmount: 600n });
      const r = await tx.query<{ day: string }>(
        `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day`,
      );
      return dailyReport(tx, r.rows[0]!.day, chainOf({ '0xday': onChain(o) }).lookup);
    });
    expect(daily.reconciliation.ok).toBe(true);
    expect(daily.reconciliation.matchedOrderIds).toEqual(['day']);
    expect(daily.ledger.balanced).toBe(true);
    expect(daily.totals).toEqual([
      { asset: 'ETH', code: 'crypto_delivered', kind: 'posted', count: 1, amount: '3' },
      { asset: 'ETH', code: 'inventory_funding', kind: 'posted', count: 1, amount: '3' },
      { asset: 'ETH', code: 'inventory_reservation', kind: 'pending', count: 1, amount: '3' },
      { asset: 'ETH', code: 'inventory_reservation', kind: 'post_pending', count: 1, amount: '3' },
      { asset: 'USD', code: 'fiat_received', kind: 'posted', count: 1, amount: '600' },
      { asset: 'USD', code: 'sale', kind: 'posted', count: 1, amount: '600' },
    ]);
  });

  describe('trade reports', () => {
    beforeAll(async () => {
      const orders: OrderSpec[] = [
        { id: 't1', clientId: 'alice', asset: 'ETH', fiat: 'USD', status: 'completed' },
        { id: 't2', clientId: 'alice', asset: 'USDC', fiat: 'EUR', status: 'reconciled' },
        { id: 't3', clientId: 'bob', asset: 'ETH', fiat: 'EUR', status: 'completed' },
        { id: 't4', clientId: 'bob', asset: 'ETH', fiat: 'USD', status: 'cancelled', txHash: null },
        { id: 't5', clientId: 'bob', asset: 'ETH', fiat: 'USD', status: 'awaiting_payment', txHash: null },
      ];
      for (const [i, o] of orders.entries()) {
        await insertOrder(db, o);
        await db.query('UPDATE otc_orders SET created_at = $2 WHERE id = $1', [
          o.id,
          new Date(Date.UTC(2025, 0, 1 + i)).toISOString(),
        ]);
      }
    });
    const ids = (rows: TradeRow[]) => rows.map((r) => r.orderId);

    it('filters by client, asset, fiat currency, side and time; settled trades unless asked for all', async () => {
      expect(ids(await tradeReport(db))).toEqual(['t1', 't2', 't3']);
      expect(ids(await tradeReport(db, { allStatuses: true }))).toEqual(['t1', 't2', 't3', 't4', 't5']);
      expect(ids(await tradeReport(db, { clientId: 'alice' }))).toEqual(['t1', 't2']);
      expect(ids(await tradeReport(db, { asset: 'ETH' }))).toEqual(['t1', 't3']);
      expect(ids(await tradeReport(db, { fiatCurrency: 'EUR' }))).toEqual(['t2', 't3']);
      expect(ids(await tradeReport(db, { side: 'sell' }))).toEqual([]);
      const jan2 = new Date(Date.UTC(2025, 0, 2));
      const jan4 = new Date(Date.UTC(2025, 0, 4));
      expect(ids(await tradeReport(db, { from: jan2, to: jan4, allStatuses: true }))).toEqual(['t2', 't3']);
      expect(ids(await tradeReport(db, { clientId: 'bob', allStatuses: true, limit: 2 }))).toEqual([
        't3',
        't4',
      ]);
      const [row] = await tradeReport(db, { clientId: 'alice', asset: 'ETH' });
      expect(row).toEqual({
        orderId: 't1',
        createdAt: '2025-01-01T00:00:00.000Z',
        updatedAt: expect.any(String),
        clientId: 'alice',
        side: 'buy',
        status: 'completed',
        exception: null,
        asset: 'ETH',
        chain: 'evm',
        amountBaseUnits: '5',
        fiatCurrency: 'USD',
        fiatAmountMinor: '1000',
        priceMinor: '200',
        destination: DEST,
        paymentReference: 'ref-t1',
        releaseRequestId: 'req-t1',
        txHash: '0xt1',
        confirmations: 0,
      });
    });

    it('refuses a bad filter naming the field', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ limit: 0 }, 'limit'],
        [{ limit: 10_001 }, 'limit'],
        [{ limit: 1.5 }, 'limit'],
        [{ fiatCurrency: 'usd' }, 'fiatCurrency'],
        [{ asset: "ETH' OR 1=1" }, 'asset'],
        [{ clientId: 'a b' }, 'clientId'],
        [{ side: 'short' }, 'side'],
        [{ from: '2025-01-01' }, 'from'],
        [{ from: new Date(2), to: new Date(1) }, 'to'],
        [{ allStatuses: 'yes' }, 'allStatuses'],
      ];
      for (const [filter, field] of cases) {
        const e = await tradeReport(db, filter as never).catch((x: unknown) => x);
        expect(e, JSON.stringify(filter)).toBeInstanceOf(OtcError);
        expect((e as OtcError).field).toBe(field);
      }
    });

    it('writes CSV with a fixed header, RFC 4180 quoting and formula cells neutralised (CSV injection)', async () => {
      expect(toCsv([])).toBe(
        'order_id,created_at,updated_at,client_id,side,status,exception,asset,chain,amount_base_units,' +
          'fiat_currency,fiat_amount_minor,price_minor,destination,payment_reference,release_request_id,tx_hash,' +
          'confirmations\r\n',
      );
      const [row] = await tradeReport(db, { clientId: 'alice', asset: 'ETH' });
      const hostile: TradeRow = {
        ...row!,
        destination: '=HYPERLINK("http://evil","click")',
        paymentReference: 'a,b\r\nc',
        txHash: null,
        exception: '@SUM(A1)',
      };
      const csv = toCsv([hostile]);
      expect(csv.startsWith('order_id,')).toBe(true);
      expect(csv).toContain(
        `,completed,'@SUM(A1),ETH,evm,5,USD,1000,200,"'=HYPERLINK(""http://evil"",""click"")","a,b\r\nc",req-t1,,0\r\n`,
      );
      expect(csv.endsWith('\r\n')).toBe(true);
      expect(csvCell('-2+3')).toBe("'-2+3");
      expect(csvCell('+1')).toBe("'+1");
      expect(csvCell('\tx')).toBe("'\tx");
      expect(csvCell('say "hi"')).toBe('"say ""hi"""');
      expect(csvCell('plain')).toBe('plain');
      expect(csvCell(null)).toBe('');
      expect(csvCell(12)).toBe('12');
    });
  });
});
