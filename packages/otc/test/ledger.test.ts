// The double-entry ledger on both databases: postings, holds that resolve exactly once (also when two
// resolutions race on a PostgreSQL server), the database-enforced no-overdraft rule, two orders racing for
// the last inventory, the buy and cancel recipes, and a checker that does fail on a hand-made imbalance.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../src/db/database.ts';
import { OtcError } from '../src/errors.ts';
import { isOverdraftViolation } from '../src/ledger/accounts.ts';
import {
  accountIds,
  accountSpecs,
  availableInventory,
  balance,
  cancelBuy,
  checkLedger,
  ensureAccount,
  fundInventory,
  hold,
  openReservation,
  orderFiatHeld,
  orderTransfers,
  post,
  postPending,
  recordFiatReceived,
  refundOrderFiat,
  releaseReservation,
  reserveInventory,
  settleBuy,
  voidPending,
} from '../src/ledger/ledger.ts';
import { DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

let counter = 0;
/** A fresh id per use, so tests share one database without colliding. */
const uid = (prefix: string) => `${prefix}-${++counter}`;

async function refusal(p: Promise<unknown>): Promise<OtcError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(OtcError);
  return e as OtcError;
}

/** A client, a firm quote and a buy order row, as the order service would have written them. */
async function insertOrder(
  q: Queryable,
  o: {
    id: string;
    clientId: string;
    asset: string;
    amount: bigint;
    fiat: string;
    fiatAmount: bigint;
    status: string;
  },
): Promise<void> {
  await q.query(
    `INSERT INTO otc_clients (id, kyc_tier, country) VALUES ($1, 'basic', 'DE') ON CONFLICT (id) DO NOTHING`,
    [o.clientId],
  );
  await q.query(
    `INSERT INTO otc_quotes (id, kind, client_id, side, asset, amount, fiat_currency, price_minor, fiat_amount,
       mid_price_minor, spread_bps, price_source, price_at, expires_at)
     VALUES ($1, 'firm', $2, 'buy', $3, $4, $5, 1, $6, 1, 0, 'test', now(), now() + interval '1 minute')`,
    [`q-${o.id}`, o.clientId, o.asset, o.amount.toString(), o.fiat, o.fiatAmount.toString()],
  );
  await q.query(
    `INSERT INTO otc_orders (id, side, client_id, quote_id, asset, chain, amount, fiat_currency, fiat_amount,
       price_minor, destination, status, payment_reference, payment_deadline)
     VALUES ($1, 'buy', $2, $3, $4, 'evm', $5, $6, $7, 1, '0x00000000000000000000000000000000000000aa', $8,
       $9, now() + interval '1 hour')`,
    [
      o.id,
      o.clientId,
      `q-${o.id}`,
      o.asset,
      o.amount.toString(),
      o.fiat,
      o.fiatAmount.toString(),
      o.status,
      `ref-${o.id}`,
    ],
  );
}

const setStatus = (q: Queryable, orderId: string, status: string) =>
  q.query('UPDATE otc_orders SET status = $2 WHERE id = $1', [orderId, status]);

describe.each(DATABASE_KINDS)('ledger on %s', (kind) => {
  let db: Database;
  beforeAll(async () => {
    db = await freshDatabase(kind);
  });
  afterAll(async () => {
    await db.close();
  });
  // The invariant every test must leave behind.
  afterEach(async () => {
    expect(await checkLedger(db)).toEqual({ balanced: true, problems: [] });
  });

  /** Two accounts of a fresh asset; `from` starts with `funded` units credited from an external account. */
  async function pair(opts: { fromNoOverdraft: boolean; funded: bigint }) {
    const asset = uid('T').toUpperCase();
    const world = {
      id: `external:chain:${asset}`,
      asset,
      ownerKind: 'external' as const,
      noOverdraft: false,
    };
    const from = {
      id: `house:hot:${asset}`,
      asset,
      ownerKind: 'house' as const,
      noOverdraft: opts.fromNoOverdraft,
    };
    const to = accountSpecs.clientAsset(uid('c'), asset);
    for (const spec of [world, from, to]) await ensureAccount(db, spec);
    if (opts.funded > 0n)
      await post(db, {
        id: uid('fund'),
        debit: world.id,
        credit: from.id,
        asset,
        amount: opts.funded,
        code: 'funding',
      });
    return { asset, world: world.id, from: from.id, to: to.id };
  }

  it('names accounts by role and refuses a client id that would make an ambiguous account id', () => {
    expect(accountIds.houseHot('ETH')).toBe('house:hot:ETH');
    expect(accountIds.clientAsset('c-1', 'USD')).toBe('client:c-1:USD');
    expect(accountIds.houseSales('EUR')).toBe('house:sales:EUR');
    expect(accountIds.externalChain('USDC')).toBe('external:chain:USDC');
    expect(accountIds.externalBank('GBP')).toBe('external:bank:GBP');
    expect(accountIds.houseFees('ETH')).toBe('house:fees:ETH');
    expect(() => accountIds.clientAsset('c:1', 'USD')).toThrow(/clientId/);
    expect(() => accountIds.houseHot('eth')).toThrow(/asset/);
  });

  it('creates an account once and refuses an existing one with another asset or overdraft rule', async () => {
    const spec = accountSpecs.clientAsset(uid('c'), 'ETH');
    await ensureAccount(db, spec);
    await ensureAccount(db, spec);
    expect(await balance(db, spec.id)).toEqual({
      debitsPosted: 0n,
      creditsPosted: 0n,
      debitsPending: 0n,
      creditsPending: 0n,
      available: 0n,
    });
    const e = await refusal(ensureAccount(db, { ...spec, noOverdraft: false }));
    expect(e.code).toBe('conflict');
    expect(e.message).toMatch(/no_overdraft true/);
    expect((await refusal(ensureAccount(db, { ...spec, asset: 'BTC' }))).message).toMatch(/asset ETH/);
  });

  it('posts a transfer to both balances and refuses bad input naming the field, writing nothing', async () => {
    const p = await pair({ fromNoOverdraft: true, funded: 100n });
    const t = await post(db, {
      id: uid('t'),
      debit: p.from,
      credit: p.to,
      asset: p.asset,
      amount: 30n,
      code: 'test',
    });
    expect(t).toMatchObject({ kind: 'posted', amount: 30n, pendingId: null, debitAccount: p.from });
    expect(await balance(db, p.from)).toMatchObject({
      debitsPosted: 30n,
      creditsPosted: 100n,
      available: 70n,
    });
    expect(await balance(db, p.to)).toMatchObject({ creditsPosted: 30n, available: 30n });

    const base = { id: uid('t'), debit: p.from, credit: p.to, asset: p.asset, amount: 1n, code: 'test' };
    const cases: [Record<string, unknown>, string][] = [
      [{ amount: 0n }, 'amount'],
      [{ amount: -5n }, 'amount'],
      [{ amount: 5 }, 'amount'],
      [{ amount: 10n ** 78n }, 'amount'],
      [{ credit: p.from }, 'credit'],
      [{ asset: 'ETH' }, 'asset'],
      [{ code: 'Not A Code' }, 'code'],
      [{ id: 'has space' }, 'id'],
      [{ debit: 'house:hot:NOPE' }, 'debit'],
      [{ detail: [1, 2] }, 'detail'],
    ];
    for (const [change, field] of cases) {
      const e = await refusal(post(db, { ...base, ...change } as Parameters<typeof post>[1]));
      expect(
        e.field,
        JSON.stringify(change, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)),
      ).toBe(field);
    }
    const dup = await refusal(post(db, { ...base, id: t.id }));
    expect(dup.code).toBe('conflict');
    expect(await balance(db, p.from)).toMatchObject({ debitsPosted: 30n });
  });

  it('a hold counts against the debit account until it is posted exactly once', async () => {
    const p = await pair({ fromNoOverdraft: true, funded: 100n });
    const h = await hold(db, {
      id: uid('h'),
      debit: p.from,
      credit: p.to,
      asset: p.asset,
      amount: 40n,
      code: 'test',
    });
    expect(await balance(db, p.from)).toMatchObject({ debitsPending: 40n, available: 60n });
    expect(await balance(db, p.to)).toMatchObject({ creditsPending: 40n, creditsPosted: 0n });

    const wrong = await refusal(postPending(db, { id: uid('p'), pendingId: h.id, amount: 39n }));
    expect(wrong.field).toBe('amount');
    const posted = await postPending(db, { id: uid('p'), pendingId: h.id });
    expect(posted).toMatchObject({ kind: 'post_pending', pendingId: h.id, amount: 40n, code: 'test' });
    expect(await balance(db, p.from)).toMatchObject({ debitsPosted: 40n, debitsPending: 0n, available: 60n });
    expect(await balance(db, p.to)).toMatchObject({ creditsPosted: 40n, creditsPending: 0n });

    const again = await refusal(postPending(db, { id: uid('p'), pendingId: h.id }));
    expect(again.code).toBe('conflict');
    expect(again.message).toContain(`already posted by transfer ${posted.id}`);
    const voided = await refusal(voidPending(db, { id: uid('v'), pendingId: h.id }));
    expect(voided.code).toBe('conflict');
    const notHold = await refusal(postPending(db, { id: uid('p'), pendingId: posted.id }));
    expect(notHold.field).toBe('pendingId');
    expect((await refusal(voidPending(db, { id: uid('v'), pendingId: 'nope' }))).code).toBe('not-found');
    expect(await balance(db, p.from)).toMatchObject({ debitsPosted: 40n, debitsPending: 0n });
  });

  it('a voided hold frees the amount and cannot then be posted (double release after cancel)', async () => {
    const p = await pair({ fromNoOverdraft: true, funded: 50n });
    const h = await hold(db, {
      id: uid('h'),
      debit: p.from,
      credit: p.to,
      asset: p.asset,
      amount: 50n,
      code: 'test',
    });
    expect(await balance(db, p.from)).toMatchObject({ available: 0n });
    await voidPending(db, { id: uid('v'), pendingId: h.id });
    expect(await balance(db, p.from)).toMatchObject({ debitsPending: 0n, debitsPosted: 0n, available: 50n });
    expect(await balance(db, p.to)).toMatchObject({ creditsPending: 0n, creditsPosted: 0n });
    const e = await refusal(postPending(db, { id: uid('p'), pendingId: h.id }));
    expect(e.code).toBe('conflict');
    expect(e.message).toMatch(/already voided/);
  });

  it('refuses to oversell the hot wallet; the no_overdraft flag is what stops it', async () => {
    const p = await pair({ fromNoOverdraft: true, funded: 10n });
    await hold(db, { id: uid('h'), debit: p.from, credit: p.to, asset: p.asset, amount: 7n, code: 'test' });
    const e = await refusal(
      hold(db, { id: uid('h'), debit: p.from, credit: p.to, asset: p.asset, amount: 4n, code: 'test' }),
    );
    expect(e.code).toBe('insufficient-inventory');
    expect(e.message).toContain('3 available, 4 needed');
    expect(
      (
        await refusal(
          post(db, { id: uid('t'), debit: p.from, credit: p.to, asset: p.asset, amount: 4n, code: 'x' }),
        )
      ).code,
    ).toBe('insufficient-inventory');
    // A customer account is no_overdraft too: spending more than it holds is an insufficient balance.
    const back = await refusal(
      post(db, { id: uid('t'), debit: p.to, credit: p.from, asset: p.asset, amount: 1n, code: 'test' }),
    );
    expect(back.code).toBe('insufficient-balance');

    // With the flag cleared on this very account the same hold goes through: the rule refused it above.
    await db.query('UPDATE otc_accounts SET no_overdraft = false WHERE id = $1', [p.from]);
    await hold(db, { id: uid('h'), debit: p.from, credit: p.to, asset: p.asset, amount: 4n, code: 'test' });
    expect(await balance(db, p.from)).toMatchObject({ debitsPending: 11n, available: -1n });
  });

  it('the database itself refuses an overdraft written around the ledger (CHECK otc_accounts_no_overdraft)', async () => {
    const p = await pair({ fromNoOverdraft: true, funded: 10n });
    const e = await db
      .query('UPDATE otc_accounts SET debits_posted = debits_posted + 11 WHERE id = $1', [p.from])
      .then(
        () => undefined,
        (x: unknown) => x,
      );
    expect(isOverdraftViolation(e)).toBe(true);
    expect(await balance(db, p.from)).toMatchObject({ debitsPosted: 0n, available: 10n });
  });

  it('two orders racing for the last inventory: exactly one reservation wins', async () => {
    const asset = uid('R').toUpperCase();
    await fundInventory(db, { asset, amount: 5n, reference: uid('fund') });
    const orders = Array.from({ length: 6 }, () => ({ orderId: uid('o'), clientId: uid('c') }));
    const results = await Promise.allSettled(
      orders.map((o) => db.transaction((tx) => reserveInventory(tx, { ...o, asset, amount: 5n }))),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const r of lost) expect((r.reason as OtcError).code).toBe('insufficient-inventory');
    expect(await availableInventory(db, asset)).toBe(0n);
    expect(await balance(db, accountIds.houseHot(asset))).toMatchObject({ debitsPending: 5n });
    const winner = orders[results.findIndex((r) => r.status === 'fulfilled')]!;
    await releaseReservation(db, { orderId: winner.orderId });
  });

  it('two resolutions of one hold racing: exactly one wins, the other is a conflict', async () => {
    for (let round = 0; round < 4; round++) {
      const p = await pair({ fromNoOverdraft: true, funded: 10n });
      const h = await hold(db, {
        id: uid('h'),
        debit: p.from,
        credit: p.to,
        asset: p.asset,
        amount: 10n,
        code: 'x',
      });
      const results = await Promise.allSettled([
        db.transaction((tx) => postPending(tx, { id: uid('p'), pendingId: h.id })),
        db.transaction((tx) => voidPending(tx, { id: uid('v'), pendingId: h.id })),
        db.transaction((tx) => postPending(tx, { id: uid('p'), pendingId: h.id })),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results)
        if (r.status === 'rejected') expect((r.reason as OtcError).code).toBe('conflict');
      const b = await balance(db, p.from);
      expect(b.debitsPending).toBe(0n);
      expect(b.debitsPosted === 10n || b.available === 10n).toBe(true);
    }
  });

  it('a full buy nets the client to zero: reserved, paid, released, and the hot wallet reduced', async () => {
    const asset = uid('B').toUpperCase();
    const order = { id: uid('o'), clientId: uid('c'), asset, amount: 3n, fiat: 'USD', fiatAmount: 900n };
    await insertOrder(db, { ...order, status: 'awaiting_payment' });
    await fundInventory(db, { asset, amount: 10n, reference: uid('fund'), txHash: '0xfund' });
    await db.transaction(async (tx) => {
      await reserveInventory(tx, { orderId: order.id, clientId: order.clientId, asset, amount: 3n });
    });
    expect(await availableInventory(db, asset)).toBe(7n);
    const ids = { orderId: order.id, clientId: order.clientId, fiat: 'USD' };
    await recordFiatReceived(db, { ...ids, amount: 1000n, evidenceId: uid('ev') });
    await settleBuy(db, { ...ids, asset, amount: 3n, fiatAmount: 900n, txHash: '0xabc' });
    // Over-payment: the 100 above the order's price goes back to the customer.
    const refund = await refundOrderFiat(db, { ...ids, reason: 'over-payment' });
    expect(refund).toMatchObject({ amount: 100n, code: 'fiat_refund', id: `ord:${order.id}:refund:1` });
    await setStatus(db, order.id, 'completed');

    expect(await balance(db, accountIds.clientAsset(order.clientId, asset))).toMatchObject({
      debitsPosted: 3n,
      creditsPosted: 3n,
      available: 0n,
    });
    expect((await balance(db, accountIds.clientAsset(order.clientId, 'USD'))).available).toBe(0n);
    expect(await balance(db, accountIds.houseHot(asset))).toMatchObject({ available: 7n, debitsPending: 0n });
    expect((await balance(db, accountIds.externalChain(asset))).creditsPosted).toBe(3n);
    expect(await orderFiatHeld(db, ids)).toBe(0n);
    const codes = (await orderTransfers(db, order.id)).map((t) => t.code).sort();
    expect(codes).toEqual(
      [
        'crypto_delivered',
        'fiat_received',
        'fiat_refund',
        'inventory_reservation',
        'inventory_reservation',
        'sale',
      ].sort(),
    );
    expect(await openReservation(db, order.id)).toBeUndefined();
    const twice = await refusal(settleBuy(db, { ...ids, asset, amount: 3n, fiatAmount: 900n }));
    expect(twice.code).toBe('conflict');
  });

  it('an under-paid order cannot be settled: the release is refused whole and the reservation stays', async () => {
    const asset = uid('U').toUpperCase();
    const ids = { orderId: uid('o'), clientId: uid('c'), fiat: 'EUR' };
    await fundInventory(db, { asset, amount: 2n, reference: uid('fund') });
    await reserveInventory(db, { ...ids, asset, amount: 2n });
    await recordFiatReceived(db, { ...ids, amount: 499n, evidenceId: uid('ev') });
    const e = await refusal(
      db.transaction((tx) => settleBuy(tx, { ...ids, asset, amount: 2n, fiatAmount: 500n })),
    );
    expect(e.code).toBe('insufficient-balance');
    expect(await openReservation(db, ids.orderId)).toMatchObject({ amount: 2n });
    expect((await balance(db, accountIds.clientAsset(ids.clientId, asset))).creditsPosted).toBe(0n);
    await cancelBuy(db, { ...ids, reason: 'under-payment refunded' });
  });

  it('cancel voids the reservation and refunds the fiat; a released order cannot be cancelled', async () => {
    const asset = uid('C').toUpperCase();
    const order = { id: uid('o'), clientId: uid('c'), asset, amount: 4n, fiat: 'GBP', fiatAmount: 80n };
    await insertOrder(db, { ...order, status: 'paid' });
    const ids = { orderId: order.id, clientId: order.clientId, fiat: 'GBP' };
    await fundInventory(db, { asset, amount: 4n, reference: uid('fund') });
    await reserveInventory(db, { ...ids, asset, amount: 4n });
    expect((await refusal(reserveInventory(db, { ...ids, asset, amount: 1n, attempt: 2 }))).code).toBe(
      'conflict',
    );
    await recordFiatReceived(db, { ...ids, amount: 80n, evidenceId: uid('ev') });
    const done = await db.transaction(async (tx) => {
      const r = await cancelBuy(tx, { ...ids, reason: 'customer cancelled' });
      await setStatus(tx, order.id, 'cancelled');
      return r;
    });
    expect(done.reservation).toMatchObject({ kind: 'void_pending', id: `ord:${order.id}:reserve:void` });
    expect(done.refund).toMatchObject({ amount: 80n, code: 'fiat_refund' });
    expect(await availableInventory(db, asset)).toBe(4n);
    expect((await balance(db, accountIds.clientAsset(order.clientId, 'GBP'))).available).toBe(0n);
    expect((await refusal(releaseReservation(db, ids))).message).toMatch(/already voided/);

    // A late payment re-quoted reserves again under a new id; once released it cannot be cancelled.
    await reserveInventory(db, { ...ids, asset, amount: 4n, attempt: 2 });
    await recordFiatReceived(db, { ...ids, amount: 80n, evidenceId: uid('ev') });
    await settleBuy(db, { ...ids, asset, amount: 4n, fiatAmount: 80n });
    const late = await refusal(cancelBuy(db, { ...ids, reason: 'too late' }));
    expect(late.code).toBe('conflict');
    expect(late.message).toContain(`ord:${order.id}:reserve:2:post`);
    await setStatus(db, order.id, 'completed');
  });

  it('checkLedger fails on a transfer or balance written by hand, and passes again once repaired', async () => {
    const p = await pair({ fromNoOverdraft: false, funded: 0n });
    const id = uid('forged');
    await db.query(
      `INSERT INTO otc_transfers (id, debit_account, credit_account, asset, amount, kind, code)
       VALUES ($1, $2, $3, $4, 5, 'posted', 'forged')`,
      [id, p.from, p.to, p.asset],
    );
    const forged = await checkLedger(db);
    expect(forged.balanced).toBe(false);
    expect(forged.problems).toContain(`account ${p.from}: debits_posted is 0 but its transfers add up to 5`);
    await db.query('DELETE FROM otc_transfers WHERE id = $1', [id]);
    expect((await checkLedger(db)).balanced).toBe(true);

    await db.query('UPDATE otc_accounts SET credits_posted = credits_posted + 7 WHERE id = $1', [p.to]);
    const minted = await checkLedger(db);
    expect(minted.problems).toContain(`asset ${p.asset}: posted balances of all accounts sum to 7, not 0`);
    await db.query('UPDATE otc_accounts SET credits_posted = credits_posted - 7 WHERE id = $1', [p.to]);
  });

  it('checkLedger fails on a finished order that strands money or a hold, or touches another client', async () => {
    const asset = uid('F').toUpperCase();
    const order = { id: uid('o'), clientId: uid('c'), asset, amount: 1n, fiat: 'USD', fiatAmount: 10n };
    await insertOrder(db, { ...order, status: 'paid' });
    const ids = { orderId: order.id, clientId: order.clientId, fiat: 'USD' };
    await fundInventory(db, { asset, amount: 1n, reference: uid('fund') });
    await reserveInventory(db, { ...ids, asset, amount: 1n });
    await recordFiatReceived(db, { ...ids, amount: 10n, evidenceId: uid('ev') });
    await setStatus(db, order.id, 'cancelled');
    const stranded = await checkLedger(db);
    expect(stranded.problems).toEqual([
      `order ${order.id} is cancelled but hold ord:${order.id}:reserve is still pending`,
      `order ${order.id} is cancelled but leaves 10 on client:${order.clientId}:USD (should net to 0)`,
    ]);
    await cancelBuy(db, { ...ids, reason: 'cancelled' });
    expect((await checkLedger(db)).balanced).toBe(true);

    const other = accountSpecs.clientAsset(uid('c'), 'USD');
    await ensureAccount(db, other);
    const mixed = await recordFiatReceived(db, { ...ids, amount: 3n, evidenceId: uid('ev') });
    const t = await post(db, {
      id: uid('t'),
      debit: accountIds.clientAsset(order.clientId, 'USD'),
      credit: other.id,
      asset: 'USD',
      amount: 3n,
      orderId: order.id,
      code: 'misposted',
    });
    expect((await checkLedger(db)).problems).toEqual([
      `transfer ${t.id} of order ${order.id} touches ${other.id}, another client's account`,
      `order ${order.id} is cancelled but leaves 3 on ${other.id} (should net to 0)`,
    ]);
    // Repair by hand so the suite's invariant holds: remove both postings and their balances (debits
    // first, or the no-overdraft check refuses the intermediate state).
    const client = accountIds.clientAsset(order.clientId, 'USD');
    await db.query('DELETE FROM otc_transfers WHERE id IN ($1, $2)', [t.id, mixed.id]);
    await db.query('UPDATE otc_accounts SET debits_posted = debits_posted - 3 WHERE id IN ($1, $2)', [
      client,
      accountIds.externalBank('USD'),
    ]);
    await db.query('UPDATE otc_accounts SET credits_posted = credits_posted - 3 WHERE id IN ($1, $2)', [
      client,
      other.id,
    ]);
  });
});
