// The tamper-evident audit log on both databases: a clean chain verifies; changing any field of a row with
// SQL, deleting, swapping or inserting a row is reported; secrets never reach an entry; appends from two
// service instances on one server form one gap-free chain.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AuditEntry,
  appendAudit,
  auditJsonLines,
  entryHash,
  exportAudit,
  verifyAudit,
} from '../src/audit/log.ts';
import { redactSecrets } from '../src/audit/redact.ts';
import type { Actor } from '../src/config/types.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrations.ts';
import { OtcError } from '../src/errors.ts';
import { createServerDatabase, DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

const maker: Actor = { id: 'key-maker-1', role: 'ops-maker' };

async function append(db: Database, n: number): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for (let i = 0; i < n; i++)
    out.push(
      await db.transaction((tx) =>
        appendAudit(tx, {
          actor: maker,
          action: 'order.paid',
          subject: `ord_${i}`,
          detail: { i, amount: '150000' },
        }),
      ),
    );
  return out;
}

describe.each(DATABASE_KINDS)('audit log on %s', (kind) => {
  let db: Database;
  beforeAll(async () => {
    db = await freshDatabase(kind);
  });
  afterAll(async () => {
    await db.close();
  });
  beforeEach(async () => {
    await db.query('DELETE FROM otc_audit');
    await append(db, 5);
  });

  it('chains entries 1…n, verifies them and exports them as JSON lines an offline verifier can check', async () => {
    const result = await verifyAudit(db);
    expect(result).toMatchObject({ ok: true, entries: 5, problems: [] });
    const entries = await exportAudit(db, { fromSeq: 2, limit: 3 });
    expect(entries.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(result.head?.hash).toBe((await exportAudit(db, { fromSeq: 5 }))[0]?.hash);
    const lines = auditJsonLines(entries).trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const parsed = lines.map((l) => JSON.parse(l) as AuditEntry);
    expect(parsed[1]).toMatchObject({ seq: 3, actor: 'key-maker-1', role: 'ops-maker', subject: 'ord_2' });
    for (const [i, e] of parsed.entries()) {
      expect(entryHash(e.prevHash, e)).toBe(e.hash);
      if (i > 0) expect(e.prevHash).toBe(parsed[i - 1]?.hash);
    }
  });

  it('keeps secrets out of the log: token, apiKey, password and webhook-signature keys are dropped at any depth', async () => {
    const entry = await db.transaction((tx) =>
      appendAudit(tx, {
        actor: { id: 'system', role: 'system' },
        action: 'webhook.received',
        detail: {
          bankReference: 'BR-1',
          headers: {
            'webhook-id': 'msg_1',
            'webhook-signature': 'v1,c2lnbmF0dXJl',
            Authorization: 'Bearer x',
          },
          quoteToken: 'qt.secret',
          apiKey: 'k',
          nested: [{ password: 'p', webhookSecret: 'whsec_x', tokenContract: '0xabc' }],
        },
      }),
    );
    const expected = {
      bankReference: 'BR-1',
      headers: { 'webhook-id': 'msg_1' },
      nested: [{ tokenContract: '0xabc' }],
    };
    expect(entry.detail).toEqual(expected);
    const stored = await db.query<{ detail: unknown }>('SELECT detail FROM otc_audit WHERE seq = $1', [
      entry.seq,
    ]);
    expect(stored.rows[0]?.detail).toEqual(expected);
    expect(JSON.stringify(stored.rows)).not.toMatch(/c2lnbmF0dXJl|Bearer|qt\.secret|whsec_/);
    expect((await verifyAudit(db)).ok).toBe(true);
  });

  const tampering: [string, string][] = [
    ['at (one microsecond later)', `at = at + interval '1 microsecond'`],
    ['actor', `actor = 'someone-else'`],
    ['role', `role = 'admin'`],
    ['action', `action = 'order.cancelled'`],
    ['subject', `subject = 'ord_other'`],
    ['subject (to null)', 'subject = NULL'],
    ['detail', `detail = jsonb_set(detail, '{amount}', '"1"')`],
    ['prev_hash', `prev_hash = repeat('a', 64)`],
    ['hash', `hash = repeat('b', 64)`],
  ];
  it.each(tampering)('reports entry 3 when its %s is changed with SQL', async (_field, set) => {
    await db.query(`UPDATE otc_audit SET ${set} WHERE seq = 3`);
    const result = await verifyAudit(db);
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toMatch(/entry [34] /);
  });

  it('reports a renumbered entry (seq changed with SQL)', async () => {
    await db.query('UPDATE otc_audit SET seq = 99 WHERE seq = 3');
    const result = await verifyAudit(db);
    expect(result.problems).toContain('entry 3 missing');
    expect(result.problems).toContain('entry 99 was altered (its hash does not match its content)');
  });

  it('reports a deleted middle entry', async () => {
    await db.query('DELETE FROM otc_audit WHERE seq = 3');
    const result = await verifyAudit(db);
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toBe('entry 3 missing');
    expect(result.problems[1]).toMatch(/^entry 4 does not follow/);
  });

  it('reports two swapped entries', async () => {
    await db.query('UPDATE otc_audit SET seq = -2 WHERE seq = 2');
    await db.query('UPDATE otc_audit SET seq = 2 WHERE seq = 3');
    await db.query('UPDATE otc_audit SET seq = 3 WHERE seq = -2');
    const result = await verifyAudit(db);
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toMatch(/entry 2 does not follow/);
    expect(result.problems.join('\n')).toMatch(/entry 2 was altered/);
  });

  it('reports a forged entry inserted in the middle with a correctly computed hash of its own', async () => {
    await db.query('UPDATE otc_audit SET seq = seq + 1000 WHERE seq >= 3');
    await db.query('UPDATE otc_audit SET seq = seq - 999 WHERE seq >= 1000');
    const [two] = await exportAudit(db, { fromSeq: 2, limit: 1 });
    const forged = {
      seq: 3,
      at: two!.at,
      actor: 'key-admin',
      role: 'admin',
      action: 'desk.unfrozen',
      subject: null,
      detail: {},
    };
    await db.query(
      `INSERT INTO otc_audit (seq, at, actor, role, action, subject, detail, prev_hash, hash)
       VALUES (3, $1, $2, $3, $4, NULL, '{}', $5, $6)`,
      [forged.at, forged.actor, forged.role, forged.action, two!.hash, entryHash(two!.hash, forged)],
    );
    const result = await verifyAudit(db);
    expect(result.entries).toBe(6);
    expect(result.problems.join('\n')).toMatch(/entry 4 does not follow/);
  });

  it('reports removed trailing entries against a head recorded elsewhere', async () => {
    const { head } = await verifyAudit(db);
    await db.query('DELETE FROM otc_audit WHERE seq = 5');
    const unanchored = await verifyAudit(db);
    expect(unanchored.ok).toBe(true);
    const anchored = await verifyAudit(db, { expectedHead: head! });
    expect(anchored.ok).toBe(false);
    expect(anchored.problems).toEqual(['recorded head 5 is not in the log (entries removed or rewritten)']);
  });

  it('writes nothing when the caller’s transaction rolls back, and the next entry leaves no gap', async () => {
    await expect(
      db.transaction(async (tx) => {
        await appendAudit(tx, { actor: maker, action: 'order.released', detail: {} });
        throw new Error('release failed');
      }),
    ).rejects.toThrow('release failed');
    const entry = await db.transaction((tx) =>
      appendAudit(tx, { actor: maker, action: 'order.released', detail: {} }),
    );
    expect(entry.seq).toBe(6);
    expect((await verifyAudit(db)).ok).toBe(true);
  });

  it('refuses bad input naming the field, and an append outside a transaction', async () => {
    const bad: [unknown, string][] = [
      [{ actor: { id: '', role: 'admin' }, action: 'a.b', detail: {} }, 'audit.actor.id'],
      [{ actor: { id: 'x', role: 'root' }, action: 'a.b', detail: {} }, 'audit.actor.role'],
      [{ actor: maker, action: 'Order Paid', detail: {} }, 'audit.action'],
      [{ actor: maker, action: 'a.b', subject: 'x\n', detail: {} }, 'audit.subject'],
      [{ actor: maker, action: 'a.b', detail: [] }, 'audit.detail'],
      [{ actor: maker, action: 'a.b', detail: { at: new Date() } }, 'audit.detail.at'],
      [{ actor: maker, action: 'a.b', detail: { n: Number.NaN } }, 'audit.detail.n'],
    ];
    for (const [input, field] of bad) {
      const e = await db.transaction((tx) => appendAudit(tx, input as never)).catch((x: unknown) => x);
      expect(e, field).toBeInstanceOf(OtcError);
      expect((e as OtcError).field).toBe(field);
    }
    const outside = await appendAudit(db, { actor: maker, action: 'a.b', detail: {} }).catch(
      (x: unknown) => x,
    );
    expect((outside as OtcError).code).toBe('internal');
    expect((await verifyAudit(db)).entries).toBe(5);
  });

  it('stores a bigint amount as its decimal string', async () => {
    const e = await db.transaction((tx) =>
      appendAudit(tx, { actor: maker, action: 'ledger.posted', detail: { amount: 10n ** 30n } }),
    );
    expect(e.detail.amount).toBe('1000000000000000000000000000000');
    expect((await verifyAudit(db)).ok).toBe(true);
  });
});

describe('audit log: two service instances on one PostgreSQL server', () => {
  const handles: Database[] = [];
  beforeAll(async () => {
    const url = await createServerDatabase();
    handles.push(await openDatabase({ url }), await openDatabase({ url }));
    await migrate(handles[0]!);
  });
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.close()));
  });

  it('appends concurrently from both into one strictly ordered, gap-free chain', async () => {
    const perInstance = 25;
    await Promise.all(
      handles.flatMap((h, instance) =>
        Array.from({ length: perInstance }, (_, i) =>
          h.transaction((tx) =>
            appendAudit(tx, { actor: maker, action: 'order.paid', detail: { instance, i } }),
          ),
        ),
      ),
    );
    const result = await verifyAudit(handles[0]!);
    expect(result).toMatchObject({ ok: true, entries: 2 * perInstance, problems: [] });
    expect(result.head?.seq).toBe(2 * perInstance);
  });
});

describe('redactSecrets', () => {
  it('keeps values that only look like secrets and non-object values as they are', () => {
    expect(redactSecrets({ tokenContract: 'a', signatureCount: 2, note: 'token' })).toEqual({
      tokenContract: 'a',
      signatureCount: 2,
      note: 'token',
    });
    expect(redactSecrets('x')).toBe('x');
  });
});
