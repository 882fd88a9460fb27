// Clients and rate limits on both databases: a client's tier must be configured and its country a real
// ISO 3166-1 code; rate limits count fixed windows in the database, answer 429 with retryAfterSeconds,
// clear old windows, and on a PostgreSQL server are shared by two service instances (two handles).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getClient, upsertClient } from '../src/clients/clients.ts';
import { takeRateLimit } from '../src/clients/rate-limit.ts';
import type { TierConfig } from '../src/config/types.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrations.ts';
import { OtcError } from '../src/errors.ts';
import { createServerDatabase, DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

const tiers: TierConfig[] = [
  { id: 'basic', limits: { USD: { perOrder: 100n, daily: 200n, monthly: 300n } }, quotesPerMinute: 5 },
  { id: 'gold', limits: {}, quotesPerMinute: 50 },
];

async function errorOf(p: Promise<unknown>): Promise<OtcError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof OtcError)) throw new Error(`expected an OtcError, got ${String(e)}`);
  return e;
}

describe.each(DATABASE_KINDS)('clients on %s', (kind) => {
  let db: Database;
  beforeAll(async () => {
    db = await freshDatabase(kind);
  });
  afterAll(async () => {
    await db.close();
  });

  it('creates a client, then updates its tier, country and status', async () => {
    const created = await upsertClient(db, { tiers }, { id: 'c-1', kycTier: 'basic', country: 'DE' });
    expect(created).toMatchObject({
      id: 'c-1',
      kycTier: 'basic',
      country: 'DE',
      status: 'active',
      version: 0,
    });
    const updated = await upsertClient(
      db,
      { tiers },
      { id: 'c-1', kycTier: 'gold', country: 'FR', status: 'suspended' },
    );
    expect(updated).toMatchObject({ kycTier: 'gold', country: 'FR', status: 'suspended', version: 1 });
    expect(await getClient(db, 'c-1')).toMatchObject({ kycTier: 'gold', status: 'suspended' });
    expect(await getClient(db, 'nobody')).toBeUndefined();
  });

  it('refuses an unconfigured tier, a made-up country and a bad id, naming the field, writing nothing', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ id: 'c-2', kycTier: 'platinum', country: 'DE' }, 'kycTier'],
      [{ id: 'c-2', kycTier: 'basic', country: 'XX' }, 'country'],
      [{ id: 'c-2', kycTier: 'basic', country: 'de' }, 'country'],
      [{ id: 'c 2', kycTier: 'basic', country: 'DE' }, 'id'],
      [{ id: 'x'.repeat(65), kycTier: 'basic', country: 'DE' }, 'id'],
      [{ id: 'c-2', kycTier: 'basic', country: 'DE', status: 'closed' }, 'status'],
    ];
    for (const [input, field] of cases) {
      const e = await errorOf(upsertClient(db, { tiers }, input as never));
      expect([e.code, e.field]).toEqual(['invalid-request', field]);
    }
    expect(await getClient(db, 'c-2')).toBeUndefined();
  });

  it('rate-limits a bucket per fixed window with retry-after, then opens the next window', async () => {
    const window = 60_000;
    const start = 1_750_000_040_000; // 20 s into a minute window (windows start at multiples of 60 s)
    for (let i = 1; i <= 3; i++)
      expect(
        await takeRateLimit(db, { bucket: 'quotes:c-1', limit: 3, windowMs: window, now: start + i }),
      ).toBe(i);
    const e = await errorOf(
      takeRateLimit(db, { bucket: 'quotes:c-1', limit: 3, windowMs: window, now: start + 10 }),
    );
    expect(e.code).toBe('rate-limited');
    expect(e.status).toBe(429);
    expect(e.toJSON().retryAfterSeconds).toBe(40);
    expect(await takeRateLimit(db, { bucket: 'quotes:other', limit: 3, windowMs: window, now: start })).toBe(
      1,
    );
    expect(
      await takeRateLimit(db, { bucket: 'quotes:c-1', limit: 3, windowMs: window, now: start + window }),
    ).toBe(1);
    const rows = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM otc_rate_limits WHERE bucket = 'quotes:c-1'",
    );
    expect(rows.rows[0]!.n).toBe('1'); // the earlier window was deleted
  });
});

describe('rate limits shared by two service instances on one PostgreSQL server', () => {
  let a: Database;
  let b: Database;
  beforeAll(async () => {
    const url = await createServerDatabase();
    a = await openDatabase({ url, poolSize: 2 });
    await migrate(a);
    b = await openDatabase({ url, poolSize: 2 });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('one client cannot double its limit by spreading requests over two instances (rate-limit bypass)', async () => {
    const take = (db: Database, i: number) =>
      takeRateLimit(db, { bucket: 'quotes:c-9', limit: 10, windowMs: 60_000, now: 1_750_000_000_000 + i });
    const results = await Promise.allSettled(
      Array.from({ length: 16 }, (_, i) => take(i % 2 === 0 ? a : b, i)),
    );
    const passed = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(passed.length).toBe(10);
    expect(refused.length).toBe(6);
    for (const r of refused) expect((r.reason as OtcError).code).toBe('rate-limited');
    expect(passed.map((r) => r.value).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});
