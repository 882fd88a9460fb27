// Opens a signer node's SQLite database (better-sqlite3, WAL) and brings its schema up to date. One file
// per node; nothing else touches it.
//
// Durability (README "Durability"). In WAL mode every commit is written to the WAL file before
// better-sqlite3 returns, so it survives a crash of the process (kill -9) whatever the setting. What the
// setting decides is when the WAL is fsynced, i.e. what survives a power loss:
//   - `full`: every commit (PRAGMA synchronous = FULL; one fsync per commit, ~4 ms on a virtual disk);
//   - `critical` (default): commits made through `durably()` are fsynced (synchronous = FULL for that
//     commit), the others are not (synchronous = NORMAL). The WAL is append-only, so a durable commit also
//     makes every earlier commit durable. A power loss can roll back only the newest non-critical commits
//     (signing records, request steps, receipts, audit entries for them), never to a state SQLite cannot
//     open. Nothing a node must never reuse depends on them: nonces and presignatures live only in memory
//     and die with the process.
import Database from 'better-sqlite3';
import { MIGRATIONS, type Migration } from './migrations.ts';

export type NodeDatabase = Database.Database;

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: 'open-failed' | 'migration-failed' | 'newer-schema',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type Durability = 'critical' | 'full';

const durabilityOf = new WeakMap<NodeDatabase, Durability>();

export function openDatabase(
  path: string,
  opts?: { migrations?: readonly Migration[]; durability?: Durability },
): NodeDatabase {
  let db: NodeDatabase;
  try {
    db = new Database(path);
  } catch (e) {
    throw new StorageError('open-failed', `cannot open database ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const durability = opts?.durability ?? 'critical';
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // Migrations are fsynced like every critical change.
  db.pragma('synchronous = FULL');
  migrate(db, opts?.migrations ?? MIGRATIONS);
  if (durability === 'critical') db.pragma('synchronous = NORMAL');
  durabilityOf.set(db, durability);
  reusePreparedStatements(db);
  return db;
}

/** Distinct SQL texts whose prepared statements a database keeps (the node uses about a hundred). */
export const PREPARED_STATEMENTS_KEPT = 512;

/**
 * Makes `db.prepare(sql)` hand back the statement it prepared for the same text before, instead of
 * compiling it again on every call (a signing runs dozens of statements on each node). A statement is
 * prepared afresh while the kept one is busy (an open iterator) and when better-sqlite3 itself calls
 * prepare with more arguments (its pragma helper sets modes on the statement it gets). Once
 * PREPARED_STATEMENTS_KEPT texts are kept, the oldest is forgotten.
 */
function reusePreparedStatements(db: NodeDatabase): void {
  const kept = new Map<string, Database.Statement>();
  const prepare = db.prepare.bind(db) as (...args: unknown[]) => Database.Statement;
  (db as { prepare: unknown }).prepare = (...args: unknown[]) => {
    if (args.length !== 1 || typeof args[0] !== 'string') return prepare(...args);
    const sql = args[0];
    const statement = kept.get(sql);
    if (statement !== undefined && !statement.busy) return statement;
    const fresh = prepare(sql);
    if (statement === undefined) {
      if (kept.size >= PREPARED_STATEMENTS_KEPT) kept.delete(kept.keys().next().value as string);
      kept.set(sql, fresh);
    }
    return fresh;
  };
}

/**
 * Runs `fn` (which may open transactions of its own) so that each of its commits is fsynced before it
 * returns: keys, shares, bans, locks, policy versions, approvals and vetoes. Must not run inside an open
 * transaction: the outer commit would happen after the setting is restored.
 */
export function durably<T>(db: NodeDatabase, fn: () => T): T {
  if ((durabilityOf.get(db) ?? 'full') === 'full') return fn();
  const depth = durableDepth.get(db) ?? 0;
  // Nested: the outermost call holds the setting until it returns.
  if (depth > 0) return fn();
  if (db.inTransaction) throw new Error('durably() called inside an open transaction');
  db.pragma('synchronous = FULL');
  durableDepth.set(db, 1);
  try {
    return fn();
  } finally {
    durableDepth.set(db, 0);
    db.pragma('synchronous = NORMAL');
  }
}

const durableDepth = new WeakMap<NodeDatabase, number>();

/** The synchronous setting in force (1 NORMAL, 2 FULL), for tests. */
export function synchronousLevel(db: NodeDatabase): number {
  return db.pragma('synchronous', { simple: true }) as number;
}

function migrate(db: NodeDatabase, migrations: readonly Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map(
      (r) => r.version,
    ),
  );
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...applied].filter((v) => !known.has(v));
  if (unknown.length > 0)
    throw new StorageError(
      'newer-schema',
      `database has schema version(s) ${unknown.join(', ')} that this Coffer build does not know; refusing to open`,
    );
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
          m.version,
          m.name,
          new Date().toISOString(),
        );
      })();
    } catch (e) {
      throw new StorageError(
        'migration-failed',
        `migration ${m.version} (${m.name}) failed: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }
}
