// One SQL dialect (PostgreSQL) behind two drivers: PGlite (PostgreSQL compiled to WASM, a data
// directory, no server — the embedded default) and `pg` against a PostgreSQL server (DATABASE_URL,
// several stateless service instances on one server). Both hand back `numeric` and `bigint` columns as
// decimal strings and `jsonb` as parsed JSON, so the code above sees the same values on either.
import { PGlite, types } from '@electric-sql/pglite';
import pg from 'pg';
import { OtcError } from '../errors.ts';

export type Row = Record<string, unknown>;
export type QueryResult<T> = { rows: T[]; rowCount: number };

export interface Queryable {
  query<T = Row>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /**
   * Runs `fn` in one transaction (READ COMMITTED): committed when it returns, rolled back when it
   * throws. On a PostgreSQL server a deadlock or serialization failure is retried a bounded number of
   * times, so `fn` must have no effect outside the transaction.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type DatabaseOptions = {
  /** `postgres://…` or `postgresql://…`: a server. Otherwise the embedded database. */
  url?: string;
  /** PGlite data directory (default: in memory, for tests). */
  dataDir?: string;
  /** Connections in the pool (server only; default 10). */
  poolSize?: number;
};

/** PostgreSQL's SQLSTATE of a driver error, if it has one ("23505" unique violation, …). */
export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The constraint a driver error names (unique and check violations). */
export function violatedConstraint(e: unknown): string | undefined {
  const c = (e as { constraint?: unknown } | null)?.constraint;
  return typeof c === 'string' ? c : undefined;
}

/**
 * Rows a statement returned or changed, as `pg` reports it: PGlite's affectedRows is 0 for a SELECT, so
 * the larger of the two is the count on either driver.
 */
function pgliteRowCount(r: { rows: unknown[]; affectedRows?: number }): number {
  return Math.max(r.affectedRows ?? 0, r.rows.length);
}

const RETRYABLE = new Set(['40001', '40P01']);
const MAX_TRANSACTION_ATTEMPTS = 5;

class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  constructor(private readonly db: PGlite) {}

  async query<T = Row>(sql: string, params: unknown[] = []): Promise<QueryResult<T>> {
    const r = await this.db.query<T>(sql, params);
    return { rows: r.rows, rowCount: pgliteRowCount(r) };
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) =>
      fn({
        async query<R = Row>(sql: string, params: unknown[] = []): Promise<QueryResult<R>> {
          const r = await tx.query<R>(sql, params);
          return { rows: r.rows, rowCount: pgliteRowCount(r) };
        },
        async exec(sql: string): Promise<void> {
          await tx.exec(sql);
        },
      }),
    );
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

class ServerDatabase implements Database {
  readonly kind = 'postgres' as const;
  constructor(private readonly pool: pg.Pool) {}

  async query<T = Row>(sql: string, params: unknown[] = []): Promise<QueryResult<T>> {
    const r = await this.pool.query(sql, params);
    return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({
          async query<R = Row>(sql: string, params: unknown[] = []): Promise<QueryResult<R>> {
            const r = await client.query(sql, params);
            return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
          },
          async exec(sql: string): Promise<void> {
            await client.query(sql);
          },
        });
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        const state = sqlState(e);
        if (state === undefined || !RETRYABLE.has(state) || attempt >= MAX_TRANSACTION_ATTEMPTS) throw e;
      } finally {
        client.release();
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Opens the configured database (no migration: see migrations.ts). */
export async function openDatabase(opts: DatabaseOptions = {}): Promise<Database> {
  if (opts.url !== undefined && /^postgres(ql)?:\/\//.test(opts.url)) {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      statement_timeout: 30_000,
      connectionTimeoutMillis: 10_000,
    });
    // An idle client's network error must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    const db = new ServerDatabase(pool);
    try {
      await db.query('SELECT 1');
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new OtcError('database-error', `cannot reach the PostgreSQL server: ${(e as Error).message}`);
    }
    return db;
  }
  if (opts.url !== undefined)
    throw new OtcError('invalid-request', 'DATABASE_URL must start with postgres://', 'DATABASE_URL');
  const db = new PGlite(opts.dataDir ?? 'memory://', {
    // Same values as `pg`: numeric and int8 as decimal strings, never a float.
    parsers: { [types.NUMERIC]: (v: string) => v, [types.INT8]: (v: string) => v },
  });
  await db.waitReady;
  return new PgliteDatabase(db);
}
