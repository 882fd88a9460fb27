// openDatabase on a real SQLite file: prepared statements are kept per SQL text and handed back, except
// while the kept one is busy (an open iterator); better-sqlite3's own helpers (pragma, transactions)
// are unaffected; the number of texts kept is bounded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type NodeDatabase, openDatabase, PREPARED_STATEMENTS_KEPT } from '../src/storage/db.ts';

let dir: string;
let db: NodeDatabase;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-storage-'));
  db = openDatabase(join(dir, 'node.sqlite'));
  db.exec('CREATE TABLE t (n INTEGER)');
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('prepared statements', () => {
  it('the same SQL text gets the same statement back, with fresh parameters each run', () => {
    const insert = db.prepare('INSERT INTO t (n) VALUES (?)');
    expect(db.prepare('INSERT INTO t (n) VALUES (?)')).toBe(insert);
    db.prepare('INSERT INTO t (n) VALUES (?)').run(1);
    db.prepare('INSERT INTO t (n) VALUES (?)').run(2);
    expect(db.prepare('SELECT n FROM t ORDER BY n').all()).toEqual([{ n: 1 }, { n: 2 }]);
    expect(db.prepare('SELECT n FROM t WHERE n = ?').get(2)).toEqual({ n: 2 });
    expect(db.prepare('SELECT n FROM t WHERE n = ?').get(1)).toEqual({ n: 1 });
  });

  it('a statement busy iterating is not handed out again: a nested use gets its own', () => {
    for (const n of [1, 2, 3]) db.prepare('INSERT INTO t (n) VALUES (?)').run(n);
    const seen: Array<[number, number]> = [];
    for (const row of db.prepare('SELECT n FROM t ORDER BY n').iterate() as Iterable<{ n: number }>)
      for (const inner of db.prepare('SELECT n FROM t ORDER BY n').iterate() as Iterable<{ n: number }>)
        seen.push([row.n, inner.n]);
    expect(seen).toHaveLength(9);
  });

  it('pragma and transactions work as before (their statements are not shared)', () => {
    expect(db.prepare('PRAGMA foreign_keys').get()).toEqual({ foreign_keys: 1 });
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.prepare('PRAGMA foreign_keys').get()).toEqual({ foreign_keys: 1 });
    const add = db.transaction((n: number) => db.prepare('INSERT INTO t (n) VALUES (?)').run(n));
    add(5);
    expect(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO t (n) VALUES (?)').run(6);
        throw new Error('roll back');
      })(),
    ).toThrow('roll back');
    expect(db.prepare('SELECT n FROM t').all()).toEqual([{ n: 5 }]);
  });

  it(`keeps at most ${PREPARED_STATEMENTS_KEPT} texts, forgetting the oldest`, () => {
    const first = db.prepare('SELECT 0 AS n');
    for (let i = 1; i <= PREPARED_STATEMENTS_KEPT; i++) db.prepare(`SELECT ${i} AS n`);
    expect(db.prepare(`SELECT ${PREPARED_STATEMENTS_KEPT} AS n`).get()).toEqual({
      n: PREPARED_STATEMENTS_KEPT,
    });
    const again = db.prepare('SELECT 0 AS n');
    expect(again).not.toBe(first);
    expect(again.get()).toEqual({ n: 0 });
  });
});
