// Compliance: pre-trade checks on both databases (client, jurisdiction, KYC tier, per-order / daily /
// monthly limits from the client's live orders, destination screening), every decision recorded with its
// reason; destination screening fails closed (denylist file, HTTP hook deny, timeout, error).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertClient } from '../src/clients/clients.ts';
import {
  checkPreTrade,
  type PreTradeDeps,
  type PreTradeInput,
  recordRefusal,
} from '../src/compliance/pretrade.ts';
import { createScreening } from '../src/compliance/screening.ts';
import type { TierConfig } from '../src/config/types.ts';
import type { Database } from '../src/db/database.ts';
import { OtcError } from '../src/errors.ts';
import { DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

const NOW = 1_750_000_000_000;
const HOUR = 3_600_000;
const tiers: TierConfig[] = [
  {
    id: 'basic',
    limits: { USD: { perOrder: 1_000n, daily: 2_000n, monthly: 5_000n } },
    quotesPerMinute: 10,
  },
];
const EVM_DENIED = '0x00000000000000000000000000000000000000Ad';
const dir = mkdtempSync(join(tmpdir(), 'otc-compliance-'));
const denylistFile = join(dir, 'denylist.txt');
writeFileSync(
  denylistFile,
  `# sanctioned\n${EVM_DENIED.toLowerCase()}  # lower case in the file\nTXYZcaseSensitive\n`,
);

const deps: PreTradeDeps = {
  config: {
    tiers,
    compliance: {
      blockedCountries: ['KP'],
      assetRestrictions: [{ asset: 'USDC', countries: ['US'] }],
    },
  },
  now: () => NOW,
  screen: createScreening({ denylistFile }).screen,
};

let serial = 0;
const base = (over: Partial<PreTradeInput> = {}): PreTradeInput => ({
  clientId: 'c-de',
  side: 'buy',
  asset: 'ETH',
  fiatCurrency: 'USD',
  fiatAmount: 100n,
  quoteId: `q-test-${++serial}`,
  ...over,
});

describe.each(DATABASE_KINDS)('pre-trade checks on %s', (kind) => {
  let db: Database;
  beforeAll(async () => {
    db = await freshDatabase(kind);
    for (const [id, country] of [
      ['c-de', 'DE'],
      ['c-kp', 'KP'],
      ['c-us', 'US'],
      ['c-busy', 'FR'],
    ] as const)
      await upsertClient(db, { tiers }, { id, kycTier: 'basic', country });
    await upsertClient(db, { tiers }, { id: 'c-off', kycTier: 'basic', country: 'DE', status: 'suspended' });
    // A tier removed from configuration after the client was registered.
    await db.query("INSERT INTO otc_clients (id, kyc_tier, country) VALUES ('c-legacy', 'legacy', 'DE')");
  });
  afterAll(async () => {
    await db.close();
  });

  /** The caller's pattern: the check in a transaction; a refusal recorded again after the rollback. */
  async function check(input: PreTradeInput): Promise<OtcError | 'pass'> {
    try {
      await db.transaction((tx) => checkPreTrade(tx, deps, input));
      return 'pass';
    } catch (e) {
      await recordRefusal(db, { clientId: input.clientId, quoteId: input.quoteId }, e);
      if (e instanceof OtcError) return e;
      throw e;
    }
  }

  async function decisions(quoteId: string | undefined) {
    const r = await db.query<{ check_name: string; outcome: string; reason: string }>(
      'SELECT check_name, outcome, reason FROM otc_compliance_decisions WHERE quote_id = $1 ORDER BY id',
      [quoteId],
    );
    return r.rows;
  }

  let orderSerial = 0;
  async function order(clientId: string, fiatAmount: bigint, ageMs: number, status = 'awaiting_payment') {
    const n = ++orderSerial;
    const at = new Date(NOW - ageMs);
    await db.query(
      `INSERT INTO otc_quotes (id, kind, client_id, side, asset, amount, fiat_currency, price_minor, fiat_amount,
         mid_price_minor, spread_bps, price_source, price_at, created_at, expires_at)
       VALUES ($1, 'firm', $2, 'buy', 'ETH', 1, 'USD', 1, $3, 1, 0, 'test', $4, $4, $4)`,
      [`q-order-${n}`, clientId, fiatAmount.toString(), at],
    );
    await db.query(
      `INSERT INTO otc_orders (id, side, client_id, quote_id, asset, chain, amount, fiat_currency, fiat_amount,
         price_minor, destination, status, payment_reference, payment_deadline, created_at)
       VALUES ($1, 'buy', $2, $3, 'ETH', 'evm', 1, 'USD', $4, 1, '0x', $5, $6, $7, $7)`,
      [`o-${n}`, clientId, `q-order-${n}`, fiatAmount.toString(), status, `REF${n}`, at],
    );
  }

  it('passes a client within every rule and records each check with its reason', async () => {
    const input = base();
    expect(await check(input)).toBe('pass');
    const rows = await decisions(input.quoteId);
    expect(rows.map((r) => [r.check_name, r.outcome])).toEqual([
      ['client', 'pass'],
      ['jurisdiction', 'pass'],
      ['kyc-tier', 'pass'],
      ['limits', 'pass'],
    ]);
    expect(rows[3]!.reason).toContain('24 h 100');
  });

  it('refuses an unknown, a suspended and an unconfigured-tier client, recording why', async () => {
    const cases: [string, string][] = [
      ['c-nobody', 'not-found'],
      ['c-off', 'forbidden'],
      ['c-legacy', 'kyc-tier'],
    ];
    for (const [clientId, code] of cases) {
      const input = base({ clientId });
      expect(((await check(input)) as OtcError).code).toBe(code);
      const rows = await decisions(input.quoteId);
      expect(rows.at(-1)?.outcome).toBe('fail');
    }
  });

  it('refuses a currency the tier does not trade (kyc-tier)', async () => {
    const e = (await check(base({ fiatCurrency: 'EUR' }))) as OtcError;
    expect([e.code, e.field]).toEqual(['kyc-tier', 'fiatCurrency']);
  });

  it('refuses blocked countries and per-asset country restrictions (jurisdiction)', async () => {
    const blocked = base({ clientId: 'c-kp' });
    expect(((await check(blocked)) as OtcError).code).toBe('jurisdiction');
    expect((await decisions(blocked.quoteId)).at(-1)).toMatchObject({
      check_name: 'jurisdiction',
      outcome: 'fail',
    });
    const restricted = (await check(base({ clientId: 'c-us', asset: 'USDC' }))) as OtcError;
    expect([restricted.code, restricted.field]).toEqual(['jurisdiction', 'asset']);
    expect(await check(base({ clientId: 'c-us', asset: 'ETH' }))).toBe('pass');
  });

  it('refuses an order over the per-order limit and names the limit', async () => {
    expect(await check(base({ fiatAmount: 1_000n }))).toBe('pass');
    const input = base({ fiatAmount: 1_001n });
    const e = (await check(input)) as OtcError;
    expect([e.code, e.field, e.toJSON().limit]).toEqual(['limit-exceeded', 'fiatAmount', 'per-order']);
    expect((await decisions(input.quoteId)).at(-1)).toMatchObject({ check_name: 'limits', outcome: 'fail' });
  });

  it('sums live orders of the last 24 hours and 30 days (splitting an amount into orders does not evade limits)', async () => {
    await order('c-busy', 900n, 1 * HOUR);
    await order('c-busy', 900n, 23 * HOUR);
    await order('c-busy', 1_000n, 2 * HOUR, 'cancelled'); // never counted
    await order('c-busy', 1_000n, 3 * HOUR, 'rejected');
    expect(await check(base({ clientId: 'c-busy', fiatAmount: 200n }))).toBe('pass'); // 1800 + 200 = daily
    const daily = (await check(base({ clientId: 'c-busy', fiatAmount: 201n }))) as OtcError;
    expect([daily.code, daily.toJSON().limit]).toEqual(['limit-exceeded', 'daily']);
    // Older than a day: monthly only. 1800 + 2 × 1000 = 3800 in 30 days (the 31-day-old order is out).
    await order('c-busy', 1_000n, 25 * HOUR);
    await order('c-busy', 1_000n, 29 * 24 * HOUR);
    await order('c-busy', 900n, 31 * 24 * HOUR); // older than 30 days: not counted
    expect(await check(base({ clientId: 'c-busy', fiatAmount: 200n }))).toBe('pass');
    await order('c-busy', 1_001n, 5 * 24 * HOUR); // 4801 + 200 > 5000
    const monthly = (await check(base({ clientId: 'c-busy', fiatAmount: 200n }))) as OtcError;
    expect([monthly.code, monthly.toJSON().limit]).toEqual(['limit-exceeded', 'monthly']);
  });

  it('screens the destination when given: a denylisted address is refused and recorded', async () => {
    const denied = base({ destination: { chain: 'evm', address: EVM_DENIED }, orderId: 'o-screen' });
    const e = (await check(denied)) as OtcError;
    expect([e.code, e.field]).toEqual(['screening-denied', 'destination']);
    expect((await decisions(denied.quoteId)).at(-1)).toMatchObject({
      check_name: 'destination-screening',
      outcome: 'fail',
    });
    const clear = base({ destination: { chain: 'evm', address: `0x${'1'.repeat(40)}` } });
    expect(await check(clear)).toBe('pass');
    expect((await decisions(clear.quoteId)).at(-1)).toMatchObject({
      check_name: 'destination-screening',
      outcome: 'pass',
    });
  });
});

describe('destination screening fails closed', () => {
  let server: Server;
  let url = '';
  let calls = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      calls++;
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const { address } = JSON.parse(body) as { chain: string; address: string };
        if (address === 'hang') return; // never answers
        if (address === 'boom') return void res.writeHead(500).end();
        if (address === 'garbled') return void res.writeHead(200).end('{"allow":"yes"}');
        const allow = !address.startsWith('bad');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(allow ? { allow } : { allow, reason: 'OFAC SDN match' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/screen`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('denylist: EVM hex in any case, comments ignored, other chains case-sensitive', async () => {
    const s = createScreening({ denylistFile });
    expect(
      (await s.check({ chain: 'evm', address: EVM_DENIED.toUpperCase().replace('0X', '0x') })).outcome,
    ).toBe('denied');
    expect((await s.check({ chain: 'tron', address: 'TXYZcaseSensitive' })).outcome).toBe('denied');
    expect((await s.check({ chain: 'tron', address: 'txyzcasesensitive' })).outcome).toBe('clear');
    expect((await s.check({ chain: 'evm', address: 'sanctioned' })).outcome).toBe('clear');
  });

  it('a missing denylist file lets nothing through (screening-unavailable)', async () => {
    const s = createScreening({ denylistFile: join(dir, 'absent.txt') });
    const e = await s.screen({ chain: 'evm', address: `0x${'2'.repeat(40)}` }).catch((x: unknown) => x);
    expect((e as OtcError).code).toBe('screening-unavailable');
  });

  it('hook: allow passes, deny is screening-denied with the hook’s reason', async () => {
    const s = createScreening({ screeningHook: { url, timeoutMs: 1_000 } });
    await expect(s.screen({ chain: 'evm', address: 'good-1' })).resolves.toBeUndefined();
    const e = (await s.screen({ chain: 'evm', address: 'bad-1' }).catch((x: unknown) => x)) as OtcError;
    expect([e.code, e.message]).toEqual(['screening-denied', 'screening hook: OFAC SDN match']);
  });

  it('hook timeout, HTTP error and a non-boolean answer are screening-unavailable, never a pass', async () => {
    const s = createScreening({ screeningHook: { url, timeoutMs: 300 } });
    const started = performance.now();
    for (const address of ['hang', 'boom', 'garbled']) {
      const e = (await s.screen({ chain: 'evm', address }).catch((x: unknown) => x)) as OtcError;
      expect(e.code).toBe('screening-unavailable');
    }
    expect(performance.now() - started).toBeLessThan(3_000);
    const unreachable = createScreening({
      screeningHook: { url: 'http://127.0.0.1:1/screen', timeoutMs: 300 },
    });
    expect((await unreachable.check({ chain: 'evm', address: 'x' })).outcome).toBe('unavailable');
  });

  it('a denylist hit is final: the hook is not asked', async () => {
    const s = createScreening({ denylistFile, screeningHook: { url, timeoutMs: 1_000 } });
    const before = calls;
    expect((await s.check({ chain: 'evm', address: EVM_DENIED })).outcome).toBe('denied');
    expect(calls).toBe(before);
    expect((await s.check({ chain: 'evm', address: 'bad-2' })).outcome).toBe('denied');
    expect(calls).toBe(before + 1);
  });
});
