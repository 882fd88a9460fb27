// Opens a signer node's SQLite database (better-sqlite3, WAL, full fsync) and brings its schema up
// to date. One file per node; nothing else touches it.
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

export function openDatabase(path: string, opts?: { migrations?: readonly Migration[] }): NodeDatabase {
  let db: NodeDatabase;
  try {
    db = new Database(path);
  } catch (e) {
    throw new StorageError('open-failed', `cannot open database ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  db.pragma('journal_mode = WAL');
  // Custody data: a committed transaction must survive power loss, not just a process crash.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, opts?.migrations ?? MIGRATIONS);
  return db;
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
