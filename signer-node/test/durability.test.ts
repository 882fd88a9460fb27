// When a signer node's commits reach the disk (storage/db.ts, README "Durability"): by default every
// commit survives a crash of the process (WAL) and the critical ones — shares, bans, wallet locks,
// policy versions, approvals, vetoes, cancellations — are committed with synchronous = FULL (fsynced);
// `durability: "full"` fsyncs every commit. The checks record the synchronous level in force when each
// statement of a critical change runs, on a real SQLite file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Keystore } from '@coffer/hsm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.ts';
import { type NewRequest, RequestStore } from '../src/requests/store.ts';
import { durably, type NodeDatabase, openDatabase, synchronousLevel } from '../src/storage/db.ts';
import { WalletStore } from '../src/store/wallets.ts';
import type { PeerTransport } from '../src/transport/peers.ts';
import { insertWallet, testManager } from './helpers/node.ts';

const NORMAL = 1;
const FULL = 2;
const WALLET = 'cd'.repeat(32);

let dir: string;
let db: NodeDatabase;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-durability-'));
  db = openDatabase(join(dir, 'node.sqlite'));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Records, for every write statement run from now on, its SQL and the synchronous level at that moment. */
function recordWrites(database: NodeDatabase): Array<{ sql: string; level: number }> {
  const seen: Array<{ sql: string; level: number }> = [];
  const prepare = database.prepare.bind(database);
  // The database hands back one statement per SQL text; each is wrapped once.
  const wrapped = new WeakSet<object>();
  database.prepare = ((sql: string) => {
    const statement = prepare(sql);
    if (wrapped.has(statement)) return statement;
    wrapped.add(statement);
    const run = statement.run.bind(statement);
    statement.run = ((...args: unknown[]) => {
      seen.push({ sql, level: synchronousLevel(database) });
      return run(...args);
    }) as typeof statement.run;
    return statement;
  }) as typeof database.prepare;
  return seen;
}

describe('durability levels', () => {
  it('default: plain commits are not fsynced, durably() commits are, and the level is restored', () => {
    expect(synchronousLevel(db)).toBe(NORMAL);
    const inside = durably(db, () => synchronousLevel(db));
    expect(inside).toBe(FULL);
    expect(synchronousLevel(db)).toBe(NORMAL);
    expect(() =>
      durably(db, () => {
        throw new Error('refused');
      }),
    ).toThrow('refused');
    expect(synchronousLevel(db)).toBe(NORMAL);
  });

  it('a nested durably() keeps every commit of the outer one fsynced until the outer one returns', () => {
    const levels = durably(db, () => {
      const inner = durably(db, () => synchronousLevel(db));
      return [inner, synchronousLevel(db)];
    });
    expect(levels).toEqual([FULL, FULL]);
    expect(synchronousLevel(db)).toBe(NORMAL);
  });

  it('durably() refuses to run inside an open transaction (its commit would not be fsynced)', () => {
    expect(() => db.transaction(() => durably(db, () => 1))()).toThrow(/inside an open transaction/);
    expect(synchronousLevel(db)).toBe(NORMAL);
  });

  it('"full": every commit is fsynced', () => {
    const path = join(dir, 'full.sqlite');
    const full = openDatabase(path, { durability: 'full' });
    try {
      expect(synchronousLevel(full)).toBe(FULL);
      expect(durably(full, () => synchronousLevel(full))).toBe(FULL);
      expect(synchronousLevel(full)).toBe(FULL);
    } finally {
      full.close();
    }
  });

  it('a commit made without fsync is read back after the database is reopened (WAL, process crash safe)', () => {
    insertWallet(db, WALLET);
    db.close();
    db = openDatabase(join(dir, 'node.sqlite'));
    expect(db.prepare('SELECT COUNT(*) AS n FROM wallets').get()).toEqual({ n: 1 });
  });
});

describe('critical changes are fsynced', () => {
  it('wallet review lock and its clearance', () => {
    insertWallet(db, WALLET);
    const wallets = new WalletStore(db, {} as Keystore);
    const seen = recordWrites(db);
    expect(wallets.lock(WALLET, 'final signature check failed')).toBe(true);
    expect(wallets.clearLock(WALLET)).toBe(true);
    const writes = seen.filter((w) => w.sql.includes('locked_reason'));
    expect(writes).toHaveLength(2);
    for (const w of writes) expect(w.level).toBe(FULL);
    expect(synchronousLevel(db)).toBe(NORMAL);
  });

  it('requests: every change of a transfer, and a cancellation or new bundle of any request', () => {
    const store = new RequestStore(db, new AuditLog(db));
    const request = (id: string, kind: NewRequest['kind'], key: string): NewRequest => ({
      id,
      kind,
      role: 'coordinator',
      origin: 'node-a',
      operator: 'otc',
      idempotencyKey: key,
      fingerprint: 'f'.repeat(64),
      wallet: 'hot-eth',
      keyId: WALLET,
      path: 'm',
      requestDigest: key.padEnd(64, '0'),
      signingDigest: 'e'.repeat(64),
      bundle: '{}',
      reference: null,
      evmFrom: null,
      evmNonce: null,
      firstSeenMs: 0,
    });
    const seen = recordWrites(db);
    const levelOf = (from: number) =>
      seen
        .slice(from)
        .filter((w) => /INTO requests|UPDATE requests/.test(w.sql))
        .map((w) => w.level);
    store.insert(request('req-000000000000000000000001', 'transfer', 'a1'), 'api:otc');
    store.transition('req-000000000000000000000001', 'submitted', 'pending-approvals', 'node-a');
    let mark = seen.length;
    store.insert(request('req-000000000000000000000002', 'raw-digest', 'b2'), 'api:otc');
    store.transition('req-000000000000000000000002', 'submitted', 'pending-approvals', 'node-a');
    expect(levelOf(mark)).toEqual([NORMAL, NORMAL]);
    mark = seen.length;
    store.transition('req-000000000000000000000002', 'pending-approvals', 'pending-approvals', 'node-a', {
      bundle: '{"approvals":[]}',
    });
    store.transition('req-000000000000000000000002', 'pending-approvals', 'cancelled', 'api:otc');
    expect(levelOf(mark)).toEqual([FULL, FULL]);
    expect(levelOf(0).slice(0, 2)).toEqual([FULL, FULL]); // the transfer's insert and transition
    expect(synchronousLevel(db)).toBe(NORMAL);
  });

  it('clearing a peer ban, with its audit entry', () => {
    const audit = new AuditLog(db);
    const sessions = testManager(db, {} as PeerTransport, { audit });
    db.prepare(
      "INSERT INTO peer_bans (peer_id, reason, banned_at, cleared_at) VALUES ('node-b', 'test', ?, NULL)",
    ).run(new Date().toISOString());
    const seen = recordWrites(db);
    expect(sessions.clearBan('node-b', 'api:admin')).toBe(true);
    const writes = seen.filter((w) => w.sql.includes('peer_bans') || w.sql.includes('audit_log'));
    expect(writes.length).toBeGreaterThanOrEqual(2);
    for (const w of writes) expect(w.level).toBe(FULL);
  });
});
