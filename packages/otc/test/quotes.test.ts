// Quotes (RFQ) on both databases: firm quotes carry a token and are consumed exactly once; indicative
// quotes never execute; expired, tampered (every character), foreign and reused tokens are refused; a
// stale price is never quoted; the quote path applies the rate limit, the freeze and the pre-trade limits;
// on a PostgreSQL server two instances racing to accept one quote consume it once.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertClient } from '../src/clients/clients.ts';
import { createScreening } from '../src/compliance/screening.ts';
import type { AssetConfig } from '../src/config/types.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrations.ts';
import { OtcError } from '../src/errors.ts';
import { StaticPriceSource } from '../src/pricing/sources.ts';
import { createPriceTable, priceTableKeygen } from '../src/pricing/table.ts';
import {
  consumeQuote,
  getQuote,
  type QuoteDeps,
  type QuoteRequest,
  quoteResultToWire,
  requestQuote,
} from '../src/quotes/quotes.ts';
import { createServerDatabase, DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

const T0 = 1_750_000_000_000;
const ETH = 10n ** 18n;
const publisher = priceTableKeygen();
const priceFile = join(mkdtempSync(join(tmpdir(), 'otc-quotes-')), 'prices.json');

/** Publishes a signed table dated `issuedAtMs`: ETH at 3,500.00 USD, USDC at 1.00 USD. */
function publish(issuedAtMs: number): void {
  const table = createPriceTable(
    {
      issuedAtMs,
      prices: [
        { asset: 'ETH', fiat: 'USD', mid: 350_000n },
        { asset: 'USDC', fiat: 'USD', mid: 100n },
      ],
    },
    publisher.secretKey,
  );
  writeFileSync(priceFile, JSON.stringify(table));
}

const asset = (id: string, decimals: number): AssetConfig => ({
  id,
  chain: 'evm',
  network: 'eip155:31337',
  kind: id === 'ETH' ? 'native' : 'token',
  decimals,
  wallet: 'hot',
  keyId: 'k-1',
  hotAddress: `0x${'a'.repeat(40)}`,
  confirmations: 1,
});

let clock = T0;
const signingKey = new Uint8Array(randomBytes(32));
const deps: QuoteDeps = {
  config: {
    assets: [asset('ETH', 18), asset('USDC', 6)],
    fiat: [{ code: 'USD', decimals: 2, account: { bankName: 'B', accountName: 'Desk', accountNumber: '1' } }],
    tiers: [
      {
        id: 'basic',
        limits: { USD: { perOrder: 1_000_000n, daily: 5_000_000n, monthly: 20_000_000n } },
        quotesPerMinute: 5,
      },
    ],
    spreads: [
      { service: 'buy', tier: '*', asset: '*', bps: 100 },
      { service: 'sell', tier: '*', asset: '*', bps: 80 },
    ],
    quotes: { firmTtlMs: 30_000, indicativeTtlMs: 5_000, signingKey },
    pricing: {
      source: { kind: 'static', file: priceFile, publicKey: publisher.publicKey },
      maxAgeMs: 10_000,
    },
    compliance: { blockedCountries: [], assetRestrictions: [] },
  },
  prices: new StaticPriceSource({ file: priceFile, publicKey: publisher.publicKey }),
  now: () => clock,
  screen: createScreening({}).screen,
};

const ask = (clientId: string, over: Partial<QuoteRequest> = {}): QuoteRequest => ({
  clientId,
  side: 'buy',
  asset: 'ETH',
  amount: ((3n * ETH) / 2n).toString(),
  fiatCurrency: 'USD',
  kind: 'firm',
  ...over,
});

async function errorOf(p: Promise<unknown>): Promise<OtcError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof OtcError)) throw new Error(`expected an OtcError, got ${String(e)}`);
  return e;
}

const CLIENTS = ['c-1', 'c-2', 'c-3', 'c-4', 'c-5', 'c-6', 'c-7', 'c-8', 'c-9'];

describe.each(DATABASE_KINDS)('quotes on %s', (kind) => {
  let db: Database;
  beforeAll(async () => {
    db = await freshDatabase(kind);
    for (const id of CLIENTS) await upsertClient(db, deps.config, { id, kycTier: 'basic', country: 'DE' });
    clock = T0;
    publish(T0);
  });
  afterAll(async () => {
    await db.close();
  });

  const accept = (token: unknown, clientId: string, orderId = `o-${randomBytes(4).toString('hex')}`) =>
    db.transaction((tx) => consumeQuote(tx, { token, clientId, orderId, now: clock, signingKey }));

  it('prices a firm buy at mid + spread, rounded up, with a token, and stores it', async () => {
    const q = await requestQuote(db, deps, ask('c-1'));
    expect(q).toMatchObject({
      kind: 'firm',
      side: 'buy',
      asset: 'ETH',
      amount: (3n * ETH) / 2n,
      fiatCurrency: 'USD',
    });
    expect(q.priceMinor).toBe(353_500n); // 3500.00 × 1.01
    expect(q.fiatAmount).toBe(530_250n); // 1.5 ETH
    expect(q.expiresAt.getTime()).toBe(clock + 30_000);
    expect(q.token).toMatch(/^q_[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/);
    const stored = await getQuote(db, q.id);
    expect(stored).toMatchObject({ kind: 'firm', clientId: 'c-1', midPriceMinor: 350_000n, spreadBps: 100 });
    expect(stored?.priceAt.getTime()).toBe(T0);
    expect(quoteResultToWire(q)).toEqual({
      id: q.id,
      kind: 'firm',
      side: 'buy',
      asset: 'ETH',
      amount: '1500000000000000000',
      fiatCurrency: 'USD',
      priceMinor: '353500',
      fiatAmount: '530250',
      expiresAt: new Date(clock + 30_000).toISOString(),
      token: q.token,
    });
    const consumed = await accept(q.token, 'c-1', 'o-first');
    expect(consumed).toMatchObject({ id: q.id, consumedBy: 'o-first', fiatAmount: 530_250n });
  });

  it('prices a sell below mid, rounded down for the seller', async () => {
    const q = await requestQuote(db, deps, ask('c-1', { side: 'sell', asset: 'USDC', amount: '333333' }));
    expect(q.priceMinor).toBe(99n); // 100 × 0.992 = 99.2 → 99
    expect(q.fiatAmount).toBe(33n); // 0.333333 USDC × 100 × 0.992 = 33.07 → 33 (one rounding, down)
  });

  it('an indicative quote has no token and can never be accepted (indicative-price execution)', async () => {
    const q = await requestQuote(db, deps, ask('c-2', { kind: 'indicative' }));
    expect(q.token).toBeUndefined();
    expect(q.expiresAt.getTime()).toBe(clock + 5_000);
    const forged = `${q.id}.${'A'.repeat(43)}`;
    expect((await errorOf(accept(forged, 'c-2'))).code).toBe('quote-indicative');
    expect((await getQuote(db, q.id))?.consumedAt).toBeNull();
  });

  it('refuses an expired firm quote (stale-rate execution)', async () => {
    const q = await requestQuote(db, deps, ask('c-3'));
    clock += 30_000;
    try {
      const e = await errorOf(accept(q.token, 'c-3'));
      expect([e.code, e.status]).toEqual(['quote-expired', 409]);
    } finally {
      clock -= 30_000;
    }
    expect((await accept(q.token, 'c-3')).id).toBe(q.id); // a millisecond earlier it was still good
  });

  it('refuses a token with any single character changed, and the quote survives the attempts (token forgery)', async () => {
    const q = await requestQuote(db, deps, ask('c-4'));
    const token = q.token!;
    const hex = '0123456789abcdef';
    const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const dot = token.indexOf('.');
    for (let i = 0; i < token.length; i++) {
      const alphabet = i < 2 || i === dot ? 'xy' : i < dot ? hex : b64;
      const c = alphabet[(alphabet.indexOf(token[i]!) + 1) % alphabet.length]!;
      const tampered = token.slice(0, i) + c + token.slice(i + 1);
      const e = await errorOf(accept(tampered, 'c-4'));
      expect([i, e.code, e.status]).toEqual([i, 'quote-invalid', 422]);
    }
    expect((await accept(token, 'c-4')).id).toBe(q.id);
  });

  it('refuses a MAC re-encoded with other unused bits in its last character (non-canonical base64url)', async () => {
    const q = await requestQuote(db, deps, ask('c-4'));
    const token = q.token!;
    const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = b64[b64.indexOf(token.at(-1)!) ^ 1]!; // same decoded bytes, other padding bits
    const variant = token.slice(0, -1) + last;
    expect(Buffer.from(variant.split('.')[1]!, 'base64url')).toEqual(
      Buffer.from(token.split('.')[1]!, 'base64url'),
    );
    expect((await errorOf(accept(variant, 'c-4'))).code).toBe('quote-invalid');
    expect((await errorOf(accept('not a token', 'c-4'))).field).toBe('quoteToken');
  });

  it("refuses another client's quote (quote theft)", async () => {
    const q = await requestQuote(db, deps, ask('c-5'));
    expect((await errorOf(accept(q.token, 'c-6'))).code).toBe('quote-invalid');
    expect((await getQuote(db, q.id))?.consumedAt).toBeNull();
  });

  it('consumes a firm quote once: a second accept is quote-used (quote replay)', async () => {
    const q = await requestQuote(db, deps, ask('c-5'));
    await accept(q.token, 'c-5', 'o-a');
    const e = await errorOf(accept(q.token, 'c-5', 'o-b'));
    expect([e.code, e.status]).toEqual(['quote-used', 409]);
    expect((await getQuote(db, q.id))?.consumedBy).toBe('o-a');
  });

  it('an accept whose order transaction rolls back leaves the quote unused', async () => {
    const q = await requestQuote(db, deps, ask('c-5'));
    const failed = db.transaction(async (tx) => {
      await consumeQuote(tx, {
        token: q.token,
        clientId: 'c-5',
        orderId: 'o-rolled-back',
        now: clock,
        signingKey,
      });
      throw new OtcError('insufficient-inventory', 'no inventory');
    });
    expect((await errorOf(failed)).code).toBe('insufficient-inventory');
    expect((await accept(q.token, 'c-5', 'o-later')).consumedBy).toBe('o-later');
  });

  it('never quotes a stale price, and writes no quote (stale quote)', async () => {
    const before = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM otc_quotes WHERE client_id = 'c-6'",
    );
    clock = T0 + 10_001;
    try {
      const e = await errorOf(requestQuote(db, deps, ask('c-6')));
      expect([e.code, e.status]).toEqual(['price-stale', 503]);
      publish(clock); // a fresh table is quoted again
      expect((await requestQuote(db, deps, ask('c-6'))).priceMinor).toBe(353_500n);
    } finally {
      clock = T0;
      publish(T0);
    }
    const after = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM otc_quotes WHERE client_id = 'c-6'",
    );
    expect(Number(after.rows[0]!.n)).toBe(Number(before.rows[0]!.n) + 1);
  });

  it('rate-limits quote requests per client with retry-after (quote flooding)', async () => {
    for (let i = 0; i < 5; i++) await requestQuote(db, deps, ask('c-7', { kind: 'indicative' }));
    const e = await errorOf(requestQuote(db, deps, ask('c-7')));
    expect([e.code, e.status]).toEqual(['rate-limited', 429]);
    expect(e.toJSON().retryAfterSeconds).toBeGreaterThan(0);
    expect((await requestQuote(db, deps, ask('c-8'))).kind).toBe('firm'); // others are not affected
  });

  it('checks limits at quote time and records the refusal with the quote id', async () => {
    const e = await errorOf(requestQuote(db, deps, ask('c-8', { amount: (3n * ETH).toString() })));
    expect([e.code, e.toJSON().limit]).toEqual(['limit-exceeded', 'per-order']);
    const r = await db.query<{ quote_id: string; outcome: string }>(
      "SELECT quote_id, outcome FROM otc_compliance_decisions WHERE client_id = 'c-8' AND check_name = 'limits' ORDER BY id DESC LIMIT 1",
    );
    expect(r.rows[0]?.outcome).toBe('fail');
    expect(await getQuote(db, r.rows[0]!.quote_id)).toBeUndefined();
  });

  it('refuses new quotes while the asset is frozen', async () => {
    await db.query(
      "INSERT INTO otc_freezes (scope, reason, frozen_by) VALUES ('asset:USDC', 'incident', 'admin')",
    );
    try {
      expect(
        (await errorOf(requestQuote(db, deps, ask('c-9', { asset: 'USDC', amount: '1000000' })))).code,
      ).toBe('frozen');
    } finally {
      await db.query("DELETE FROM otc_freezes WHERE scope = 'asset:USDC'");
    }
  });

  it('validates every field and names it, writing nothing', async () => {
    const cases: [Partial<QuoteRequest>, string][] = [
      [{ clientId: 'bad id' }, 'clientId'],
      [{ side: 'short' }, 'side'],
      [{ kind: 'binding' }, 'kind'],
      [{ asset: 'DOGE' }, 'asset'],
      [{ fiatCurrency: 'JPY' }, 'fiatCurrency'],
      [{ amount: '1.5' }, 'amount'],
      [{ amount: 15 }, 'amount'],
      [{ amount: '0' }, 'amount'],
      [{ amount: '1' }, 'amount'], // 1 wei sells for less than a cent
    ];
    for (const [over, field] of cases) {
      const e = await errorOf(requestQuote(db, deps, ask('c-9', { side: 'sell', ...over })));
      expect([e.code, e.field]).toEqual(['invalid-request', field]);
    }
    expect((await errorOf(requestQuote(db, deps, ask('c-unknown')))).code).toBe('not-found');
  });
});

describe('concurrent accepts on a PostgreSQL server', () => {
  let a: Database;
  let b: Database;
  beforeAll(async () => {
    const url = await createServerDatabase();
    a = await openDatabase({ url, poolSize: 2 });
    await migrate(a);
    b = await openDatabase({ url, poolSize: 2 });
    await upsertClient(a, deps.config, { id: 'c-race', kycTier: 'basic', country: 'DE' });
    clock = T0;
    publish(T0);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('two instances accepting one firm quote at once consume it exactly once (double execution)', async () => {
    for (let round = 0; round < 3; round++) {
      const q = await requestQuote(a, deps, ask('c-race'));
      let arrived = 0;
      let release: () => void = () => undefined;
      const bothInside = new Promise<void>((resolve) => {
        release = resolve;
      });
      const attempt = (db: Database, orderId: string) =>
        db.transaction(async (tx) => {
          await tx.query('SELECT 1');
          if (++arrived === 2) release();
          await bothInside; // both transactions are open before either consumes
          const quote = await consumeQuote(tx, {
            token: q.token,
            clientId: 'c-race',
            orderId,
            now: clock,
            signingKey,
          });
          await new Promise((resolve) => setTimeout(resolve, 50)); // hold the row while the other waits
          return quote.consumedBy;
        });
      const results = await Promise.allSettled([attempt(a, `o-a-${round}`), attempt(b, `o-b-${round}`)]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won.length).toBe(1);
      expect(lost.length).toBe(1);
      expect((lost[0]!.reason as OtcError).code).toBe('quote-used');
      expect((await getQuote(a, q.id))?.consumedBy).toBe(won[0]!.value);
    }
  });
});
