// Test databases: every storage and flow suite runs on both the embedded database (PGlite, in memory)
// and a real PostgreSQL server (started once per run by test/global-postgres.ts; each call makes a new
// database on it). `describe.each(DATABASE_KINDS)` runs a suite on both.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrations.ts';

export type DatabaseKind = 'pglite' | 'postgres';
export const DATABASE_KINDS: readonly DatabaseKind[] = ['pglite', 'postgres'];

/** A new, empty PostgreSQL database on the run's server; returns its URL. */
export async function createServerDatabase(): Promise<string> {
  const admin = inject('otcPostgresUrl');
  const name = `otc_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return admin.replace(/\/[^/]*$/, `/${name}`);
}

/** A new migrated database of `kind`. */
export async function freshDatabase(
  kind: DatabaseKind,
  opts: { migrated?: boolean } = {},
): Promise<Database> {
  const db =
    kind === 'pglite' ? await openDatabase() : await openDatabase({ url: await createServerDatabase() });
  if (opts.migrated ?? true) await migrate(db);
  return db;
}
