// Pricing: the signed price table (a forged or altered table is refused), the static and HTTP sources
// (an endpoint that never answers fails within its timeout), the staleness bound (a stale price is
// never quoted), spread specificity and rounding in the desk's favour.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpreadRule } from '../src/config/types.ts';
import { OtcError } from '../src/errors.ts';
import { HttpPriceSource, quotablePrice, StaticPriceSource } from '../src/pricing/sources.ts';
import { fiatAmountFor, spreadFor, spreadPrice } from '../src/pricing/spreads.ts';
import { createPriceTable, priceTableKeygen, verifyPriceTable } from '../src/pricing/table.ts';

const T0 = 1_750_000_000_000;
const publisher = priceTableKeygen();
const table = createPriceTable(
  {
    issuedAtMs: T0,
    prices: [
      { asset: 'ETH', fiat: 'USD', mid: 350_000n },
      { asset: 'USDC', fiat: 'EUR', mid: 92n },
    ],
  },
  publisher.secretKey,
);

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof OtcError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('signed price table', () => {
  it('verifies a table its publisher signed', () => {
    const verified = verifyPriceTable(JSON.parse(JSON.stringify(table)), publisher.publicKey);
    expect(verified.issuedAtMs).toBe(T0);
    expect(verified.prices.get('ETH/USD')?.midPriceMinor).toBe(350_000n);
  });

  it('refuses a table whose price was raised after signing (price-table forgery)', async () => {
    const forged = JSON.parse(JSON.stringify(table));
    forged.prices[0].mid = '350001';
    expect(await codeOf(() => verifyPriceTable(forged, publisher.publicKey))).toBe('price-unavailable');
  });

  it('refuses a table signed by another key and one whose signature bytes were altered', async () => {
    const other = priceTableKeygen();
    const byOther = createPriceTable({ issuedAtMs: T0, prices: [] }, other.secretKey);
    expect(await codeOf(() => verifyPriceTable(byOther, publisher.publicKey))).toBe('price-unavailable');
    for (const position of [0, 63, 64, 127]) {
      const altered = { ...table, signature: flipHex(table.signature, position) };
      expect(await codeOf(() => verifyPriceTable(altered, publisher.publicKey))).toBe('price-unavailable');
    }
  });

  it('refuses a re-dated table (replaying an old table as new)', async () => {
    const redated = { ...table, issuedAtMs: T0 + 3_600_000 };
    expect(await codeOf(() => verifyPriceTable(redated, publisher.publicKey))).toBe('price-unavailable');
  });

  it('refuses unknown fields, repeated pairs and non-integer prices', async () => {
    const cases: unknown[] = [
      { ...table, extra: 1 },
      { ...table, format: 'coffer-prices/2' },
      { ...table, prices: [...table.prices, table.prices[0]] },
      { ...table, prices: [{ asset: 'ETH', fiat: 'USD', mid: '3500.5' }] },
      { ...table, prices: [{ asset: 'ETH', fiat: 'USD', mid: 350000 }] },
      { ...table, issuedAtMs: -1 },
    ];
    for (const c of cases) expect(await codeOf(() => verifyPriceTable(c, null))).toBe('price-unavailable');
  });
});

function flipHex(hex: string, position: number): string {
  const c = hex[position] === '0' ? '1' : '0';
  return hex.slice(0, position) + c + hex.slice(position + 1);
}

describe('static price source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'otc-prices-'));

  it('answers the signed file and re-reads it when it changes', async () => {
    const file = join(dir, 'prices.json');
    writeFileSync(file, JSON.stringify(table));
    const source = new StaticPriceSource({ file, publicKey: publisher.publicKey });
    const price = await source.price('ETH', 'USD');
    expect(price).toMatchObject({ asset: 'ETH', fiat: 'USD', midPriceMinor: 350_000n, source: 'static' });
    expect(price.at.getTime()).toBe(T0);
    const next = createPriceTable(
      {
        issuedAtMs: T0 + 1000,
        prices: [
          { asset: 'ETH', fiat: 'USD', mid: 360_000n },
          { asset: 'BTC', fiat: 'USD', mid: 1n },
        ],
      },
      publisher.secretKey,
    );
    writeFileSync(file, JSON.stringify(next));
    expect((await source.price('ETH', 'USD')).midPriceMinor).toBe(360_000n);
    expect(await codeOf(source.price('ETH', 'GBP'))).toBe('price-unavailable');
  });

  it('refuses a file with a bad signature, and a missing file, instead of quoting from it', async () => {
    const file = join(dir, 'forged.json');
    const forged = JSON.parse(JSON.stringify(table));
    forged.prices[0].mid = '1';
    writeFileSync(file, JSON.stringify(forged));
    const source = new StaticPriceSource({ file, publicKey: publisher.publicKey });
    expect(await codeOf(source.price('ETH', 'USD'))).toBe('price-unavailable');
    const missing = new StaticPriceSource({ file: join(dir, 'absent.json'), publicKey: publisher.publicKey });
    expect(await codeOf(missing.price('ETH', 'USD'))).toBe('price-unavailable');
  });
});

describe('HTTP price source', () => {
  let server: Server;
  let base = '';
  let served: unknown = table;
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      if (req.url === '/hang') return; // never answers
      if (req.url === '/error') {
        res.writeHead(500).end('{}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const source = (path: string, publicKey: string | null = publisher.publicKey) =>
    new HttpPriceSource({ url: `${base}${path}`, timeoutMs: 300, publicKey, cacheMs: 0, now: () => T0 });

  it('answers the signed table from the endpoint', async () => {
    served = table;
    const price = await source('/prices').price('ETH', 'USD');
    expect(price).toMatchObject({ midPriceMinor: 350_000n, source: 'http' });
  });

  it('serves one fetched table for cacheMs and shares one request among concurrent callers', async () => {
    served = table;
    let now = T0;
    const cached = new HttpPriceSource({
      url: `${base}/prices`,
      timeoutMs: 300,
      publicKey: publisher.publicKey,
      cacheMs: 1_000,
      now: () => now,
    });
    const before = requests;
    await Promise.all([cached.price('ETH', 'USD'), cached.price('USDC', 'EUR'), cached.price('ETH', 'USD')]);
    now += 999;
    await cached.price('ETH', 'USD');
    expect(requests - before).toBe(1);
    now += 1;
    await cached.price('ETH', 'USD');
    expect(requests - before).toBe(2);
  });

  it('fails with price-unavailable within its timeout when the endpoint never answers', async () => {
    const started = performance.now();
    expect(await codeOf(source('/hang').price('ETH', 'USD'))).toBe('price-unavailable');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('fails with price-unavailable on an HTTP error and on a forged table', async () => {
    expect(await codeOf(source('/error').price('ETH', 'USD'))).toBe('price-unavailable');
    const forged = JSON.parse(JSON.stringify(table));
    forged.prices[0].mid = '1';
    served = forged;
    expect(await codeOf(source('/prices').price('ETH', 'USD'))).toBe('price-unavailable');
    served = table;
  });
});

describe('staleness bound', () => {
  const memory = {
    price: async () => ({ asset: 'ETH', fiat: 'USD', midPriceMinor: 100n, at: new Date(T0), source: 'test' }),
  };

  it('quotes a price up to maxAgeMs old and never one a millisecond older (stale quote)', async () => {
    const ok = await quotablePrice(memory, { asset: 'ETH', fiat: 'USD', now: T0 + 5_000, maxAgeMs: 5_000 });
    expect(ok.midPriceMinor).toBe(100n);
    expect(
      await codeOf(quotablePrice(memory, { asset: 'ETH', fiat: 'USD', now: T0 + 5_001, maxAgeMs: 5_000 })),
    ).toBe('price-stale');
  });

  it('refuses a price dated well in the future (a wrong clock would make a stale table look fresh)', async () => {
    expect(
      await codeOf(quotablePrice(memory, { asset: 'ETH', fiat: 'USD', now: T0 - 120_000, maxAgeMs: 5_000 })),
    ).toBe('price-unavailable');
  });
});

describe('spreads', () => {
  const rules: SpreadRule[] = [
    { service: 'buy', tier: '*', asset: '*', bps: 100 },
    { service: 'buy', tier: '*', asset: 'USDC', bps: 20 },
    { service: 'buy', tier: 'gold', asset: '*', bps: 50 },
    { service: 'buy', tier: 'gold', asset: 'ETH', bps: 30 },
    { service: 'sell', tier: 'gold', asset: 'ETH', bps: 40 },
  ];

  it('picks the most specific rule: tier+asset > tier > asset > *', () => {
    expect(spreadFor(rules, { service: 'buy', tier: 'gold', asset: 'ETH' })).toBe(30);
    expect(spreadFor(rules, { service: 'buy', tier: 'gold', asset: 'USDC' })).toBe(50);
    expect(spreadFor(rules, { service: 'buy', tier: 'basic', asset: 'USDC' })).toBe(20);
    expect(spreadFor(rules, { service: 'buy', tier: 'basic', asset: 'ETH' })).toBe(100);
    expect(spreadFor([...rules].reverse(), { service: 'buy', tier: 'gold', asset: 'ETH' })).toBe(30);
  });

  it('refuses to price when no rule matches (never a zero spread by default)', async () => {
    expect(await codeOf(() => spreadFor(rules, { service: 'sell', tier: 'basic', asset: 'ETH' }))).toBe(
      'price-unavailable',
    );
    expect(await codeOf(() => spreadFor(rules, { service: 'swap', tier: 'gold', asset: 'ETH' }))).toBe(
      'price-unavailable',
    );
  });

  it('rounds every price and fiat amount in the desk’s favour (buy ≥ mid ≥ sell), exactly', () => {
    expect(spreadPrice(10_001n, 'buy', 1)).toBe(10_003n); // 10002.0001 rounded up
    expect(spreadPrice(10_001n, 'sell', 1)).toBe(9_999n); // 9999.9999 rounded down
    let seed = 0x2545f491;
    const next = (bound: bigint) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const high = BigInt(seed);
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (high * 4294967296n + BigInt(seed)) % bound;
    };
    for (let i = 0; i < 2_000; i++) {
      const mid = next(10n ** 12n) + 1n;
      const bps = Number(next(10_000n));
      const buy = spreadPrice(mid, 'buy', bps);
      const sell = spreadPrice(mid, 'sell', bps);
      expect(buy >= mid && mid >= sell).toBe(true);
      expect(buy * 10_000n >= mid * BigInt(10_000 + bps)).toBe(true);
      expect((buy - 1n) * 10_000n < mid * BigInt(10_000 + bps)).toBe(true);
      const amount = next(10n ** 20n) + 1n;
      const decimals = Number(next(19n));
      const scale = 10n ** BigInt(decimals);
      const pay = fiatAmountFor({ side: 'buy', midPriceMinor: mid, bps, amount, decimals });
      const receive = fiatAmountFor({ side: 'sell', midPriceMinor: mid, bps, amount, decimals });
      // One rounding, at the end: the exact value mid × amount × (1 ± bps) lies within one minor unit.
      const exactBuy = mid * BigInt(10_000 + bps) * amount;
      const exactSell = mid * BigInt(10_000 - bps) * amount;
      const unit = 10_000n * scale;
      expect(pay * unit >= exactBuy && (pay - 1n) * unit < exactBuy).toBe(true);
      expect(receive * unit <= exactSell && (receive + 1n) * unit > exactSell).toBe(true);
      // Never more than the per-unit rounded price would charge, never less than it would pay out.
      expect((pay - 1n) * scale < buy * amount).toBe(true);
      expect((receive + 1n) * scale > sell * amount).toBe(true);
    }
  });
});
