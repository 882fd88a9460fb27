// Versioned schema migrations: applied in order, each in its own transaction, under an advisory lock so
// that two service instances starting at once on one server do not race. A database whose schema is
// newer than this code knows is refused (an older build must not write to it).
import { OtcError } from '../errors.ts';
import type { Database } from './database.ts';
import { MIGRATIONS, type Migration } from './migrations/index.ts';

/** Any constant: the key of the advisory lock migrations hold. */
const MIGRATION_LOCK = 7_344_001;

export type MigrationReport = { applied: number[]; version: number };

export function latestVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

export async function migrate(
  db: Database,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationReport> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
  const applied: number[] = [];
  for (;;) {
    const next = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      // Under the lock: two instances creating the table at once would collide in the catalogue.
      await tx.query(`CREATE TABLE IF NOT EXISTS otc_schema_migrations (
          version    integer PRIMARY KEY,
          name       text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now())`);
      const r = await tx.query<{ v: number | null }>('SELECT max(version) AS v FROM otc_schema_migrations');
      const current = r.rows[0]?.v ?? 0;
      const latest = latestVersion(migrations);
      if (current > latest)
        throw new OtcError(
          'schema-too-new',
          `the database schema is at version ${current} but this build knows only up to ${latest}; run a newer build`,
        );
      const m = migrations[current];
      if (m === undefined) return undefined;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO otc_schema_migrations (version, name) VALUES ($1, $2)', [
        m.version,
        m.name,
      ]);
      return m.version;
    });
    if (next === undefined) break;
    applied.push(next);
  }
  return { applied, version: latestVersion(migrations) };
}
