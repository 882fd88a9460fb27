// Versioned migrations on both databases: a fresh database reaches the latest version, a second run
// applies nothing, a schema newer than the build is refused, and two instances migrating one server
// at once apply each migration once.
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { openDatabase } from '../src/db/database.ts';
import { MIGRATIONS } from '../src/db/migrations/index.ts';
import { latestVersion, migrate } from '../src/db/migrations.ts';
import { OtcError } from '../src/errors.ts';
import { createServerDatabase, DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

describe.each(DATABASE_KINDS)('migrations on %s', (kind) => {
  const open: Database[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });

  it('applies every migration once and nothing on a second run', async () => {
    const db = await freshDatabase(kind, { migrated: false });
    open.push(db);
    const first = await migrate(db);
    expect(first.applied).toEqual(MIGRATIONS.map((m) => m.version));
    const second = await migrate(db);
    expect(second.applied).toEqual([]);
    const r = await db.query<{ version: number }>(
      'SELECT version FROM otc_schema_migrations ORDER BY version',
    );
    expect(r.rows.map((x) => x.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('refuses to start on a schema newer than the build (an old build must not write to it)', async () => {
    const db = await freshDatabase(kind);
    open.push(db);
    await db.query('INSERT INTO otc_schema_migrations (version, name) VALUES ($1, $2)', [
      latestVersion() + 1,
      'from a newer build',
    ]);
    const error = await migrate(db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OtcError);
    expect((error as OtcError).code).toBe('schema-too-new');
  });

  it('keeps money exact: a 78-digit numeric round-trips as a decimal string', async () => {
    const db = await freshDatabase(kind);
    open.push(db);
    const big = `9${'8'.repeat(76)}7`;
    await db.query(
      `INSERT INTO otc_accounts (id, asset, owner_kind, credits_posted) VALUES ('house:t', 'ETH', 'house', $1)`,
      [big],
    );
    const r = await db.query<{ credits_posted: unknown }>(
      `SELECT credits_posted FROM otc_accounts WHERE id = 'house:t'`,
    );
    expect(r.rows[0]?.credits_posted).toBe(big);
  });

  it('rolls a failed transaction back whole', async () => {
    const db = await freshDatabase(kind);
    open.push(db);
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO otc_clients (id, kyc_tier, country) VALUES ('c-1', 'basic', 'DE')`);
        await tx.query(`INSERT INTO otc_clients (id, kyc_tier, country) VALUES ('c-1', 'basic', 'DE')`);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    const r = await db.query('SELECT id FROM otc_clients');
    expect(r.rows).toEqual([]);
  });
});

describe('migrations on one PostgreSQL server from two instances at once', () => {
  it('applies each migration exactly once', async () => {
    const url = await createServerDatabase();
    const [a, b] = await Promise.all([openDatabase({ url }), openDatabase({ url })]);
    try {
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      expect([...ra.applied, ...rb.applied].sort((x, y) => x - y)).toEqual(MIGRATIONS.map((m) => m.version));
      const r = await a.query<{ n: string }>('SELECT count(*) AS n FROM otc_schema_migrations');
      expect(Number(r.rows[0]?.n)).toBe(MIGRATIONS.length);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
