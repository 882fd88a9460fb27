// The audit log on a real SQLite file: appends, signed checkpoints, and detection of every kind of
// tampering an operator with database access could attempt.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, AuditWriteError, type CheckpointSigner, entryHash } from '../src/audit/log.ts';
import { type NodeDatabase, openDatabase, StorageError } from '../src/storage/db.ts';

let dir: string;
let db: NodeDatabase;
let log: AuditLog;
const secret = ed25519.utils.randomSecretKey();
const signer: CheckpointSigner = {
  publicKey: ed25519.getPublicKey(secret),
  sign: (m) => ed25519.sign(m, secret),
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-audit-'));
  db = openDatabase(join(dir, 'node.sqlite'));
  log = new AuditLog(db, { checkpointEvery: 4 });
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

async function fill(n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    log.append('sign.request', 'api-key:otc', `request-${i}`, { amount: BigInt(i) * 1000n, chain: 'evm' });
    if (log.checkpointDue()) await log.checkpoint(signer);
  }
}

describe('audit log', () => {
  it('an untouched log verifies, with signed checkpoints', async () => {
    await fill(10);
    const result = log.verify(signer.publicKey);
    expect(result).toEqual({ ok: true, entries: 10, checkpoints: 2, problems: [] });
    expect(log.entries({ afterSeq: 8 }).map((e) => e.seq)).toEqual([9, 10]);
    expect(JSON.parse(log.entries()[0]!.details)).toEqual({ amount: '1000', chain: 'evm' });
  });

  it('detects an altered entry', async () => {
    await fill(6);
    db.prepare('UPDATE audit_log SET details = ? WHERE seq = 3').run('{"amount":"999999","chain":"evm"}');
    const result = log.verify(signer.publicKey);
    expect(result.ok).toBe(false);
    expect(result.problems).toContain('entry 3 was altered (hash mismatch)');
  });

  it('detects an altered entry even when the whole chain after it is recomputed (signed checkpoints)', async () => {
    await fill(6);
    const rows = log.entries();
    let prevHash = rows[0]!.hash;
    db.transaction(() => {
      for (const e of rows.slice(1)) {
        const details = e.seq === 2 ? '{"amount":"1","chain":"evm"}' : e.details;
        const hash = entryHash({ ...e, details, prevHash });
        db.prepare('UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(
          details,
          prevHash,
          hash,
          e.seq,
        );
        prevHash = hash;
      }
    })();
    const result = log.verify(signer.publicKey);
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual(['checkpoint 4 does not match entry 4']);
  });

  it('detects a removed entry', async () => {
    await fill(6);
    db.prepare('DELETE FROM audit_log WHERE seq = 5').run();
    const result = log.verify(signer.publicKey);
    expect(result.ok).toBe(false);
    expect(result.problems).toContain('entry 5 missing');
  });

  it('detects removal of the tail up to the last checkpoint', async () => {
    await fill(8);
    db.prepare('DELETE FROM audit_log WHERE seq > 6').run();
    const result = log.verify(signer.publicKey);
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toMatch(/checkpoint 8 seals an entry that is missing/);
  });

  it('detects reordered entries', async () => {
    await fill(6);
    const rows = db.prepare('SELECT * FROM audit_log WHERE seq IN (2, 3) ORDER BY seq').all() as Array<
      Record<string, unknown>
    >;
    const update = db.prepare(
      'UPDATE audit_log SET at = ?, kind = ?, actor = ?, subject = ?, details = ?, prev_hash = ?, hash = ? WHERE seq = ?',
    );
    db.transaction(() => {
      const [a, b] = rows as [Record<string, unknown>, Record<string, unknown>];
      update.run(b.at, b.kind, b.actor, b.subject, b.details, b.prev_hash, b.hash, 2);
      update.run(a.at, a.kind, a.actor, a.subject, a.details, a.prev_hash, a.hash, 3);
    })();
    const result = log.verify(signer.publicKey);
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toMatch(/does not follow its predecessor/);
  });

  it('detects a forged checkpoint and one signed by another key', async () => {
    await fill(4);
    const other = ed25519.utils.randomSecretKey();
    db.prepare('UPDATE audit_checkpoints SET signature = ? WHERE seq = 4').run(
      Buffer.from(ed25519.sign(new Uint8Array(32), other)).toString('hex'),
    );
    expect(log.verify(signer.publicKey).problems).toContain(
      "checkpoint 4 has no valid signature by this node's key",
    );
  });

  it('refuses the operation when the log cannot be written (full disk) and loses nothing', async () => {
    await fill(3);
    const pages = (db.pragma('page_count', { simple: true }) as number) + 0;
    db.pragma(`max_page_count = ${pages}`);
    expect(() => {
      for (let i = 0; i < 200; i++)
        log.append('sign.request', 'api-key:otc', `big-${i}`, { pad: 'x'.repeat(2000) });
    }).toThrow(AuditWriteError);
    const result = log.verify(signer.publicKey);
    expect(result.ok).toBe(true);
    expect(result.entries).toBeGreaterThanOrEqual(3);
  });

  it('refuses values that are not plain JSON data (bytes must be encoded explicitly)', () => {
    expect(() => log.append('x', 'y', 'z', { share: new Uint8Array(32) })).toThrow(/plain JSON data/);
    expect(log.head()).toBeUndefined();
  });
});

describe('storage', () => {
  it('re-opening runs no migration twice and keeps the data', async () => {
    await fill(2);
    db.close();
    db = openDatabase(join(dir, 'node.sqlite'));
    log = new AuditLog(db);
    expect(log.verify(signer.publicKey).entries).toBe(2);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('refuses a database written by a newer Coffer', () => {
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')").run();
    db.close();
    expect(() => openDatabase(join(dir, 'node.sqlite'))).toThrow(StorageError);
    db = openDatabase(join(dir, 'other.sqlite'));
  });
});
