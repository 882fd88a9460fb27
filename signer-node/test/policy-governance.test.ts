// Governance, receipts and the denylist file inside one node, on a real SQLite file: versions count
// only with m configured admin signatures and after this node's own timelock; the first version from
// the configuration has none; receipts verify under their signer's pinned key; the denylist is re-read
// when it changes and a missing file fails closed.
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePolicy } from '@coffer/policy/document';
import { signPolicy } from '@coffer/policy/governance';
import { SigningKey } from '@coffer/policy/keys';
import { bytesToHex } from '@noble/hashes/utils.js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.ts';
import { devPolicyDocument } from '../src/dev/cluster.ts';
import { PolicyGovernance, PolicyVersionError } from '../src/policy/governance.ts';
import { type ReceiptBody, ReceiptBook, receiptMessage } from '../src/policy/receipts.ts';
import { Denylist } from '../src/policy/screening.ts';
import { openDatabase } from '../src/storage/db.ts';

const admins = ['admin-1', 'admin-2', 'admin-3'].map((id) => ({ id, key: SigningKey.generate() }));
const HOUR = 3_600_000;
const dirs: string[] = [];

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-governance-'));
  dirs.push(dir);
  const db = openDatabase(join(dir, 'node.sqlite'));
  return { dir, db, audit: new AuditLog(db) };
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function document(version: number, activatesAtMs = 0) {
  return {
    ...devPolicyDocument([{ id: 'alice', publicKey: SigningKey.generate().publicKey }]),
    version,
    activatesAtMs,
  };
}

function signed(doc: Record<string, unknown>, by: number[]) {
  const parsed = parsePolicy(doc);
  return { document: doc, signatures: by.map((i) => signPolicy(parsed, admins[i]!.id, admins[i]!.key)) };
}

function governance(setup: ReturnType<typeof fresh>, timelockMs: number, initial?: unknown) {
  const file = join(setup.dir, 'policy-v1.json');
  if (initial !== undefined) writeFileSync(file, JSON.stringify(initial));
  return new PolicyGovernance(
    setup.db,
    setup.audit,
    'node-a',
    {
      governance: {
        admins: admins.map((a) => ({ id: a.id, publicKey: a.key.publicKey })),
        threshold: 2,
        timelockMs,
      },
      historyTimeoutMs: 3_000,
    },
    initial !== undefined ? file : undefined,
  );
}

/** The body of request number `n`'s receipt: 5 wei from hot-eth (one shape for every limit case here). */
function transferReceipt(n: number, requestId: string, sessionId: string, completedAtMs: number) {
  return {
    requestDigest: n.toString(16).padStart(64, '0'),
    requestId,
    kind: 'transfer' as const,
    wallet: 'hot-eth',
    keyId: 'cd'.repeat(32),
    operator: 'otc-desk',
    asset: 'evm:eip155:1:native',
    to: '0x1111111111111111111111111111111111111111',
    amount: '5',
    completedAtMs,
    sessionId,
  };
}

describe('policy governance in the node', () => {
  it('installs the configured first version without a timelock, once, and audits it', () => {
    const s = fresh();
    const g = governance(s, 24 * HOUR, signed(document(1), [0, 1]));
    const now = 1_800_000_000_000;
    expect(g.installInitial(now)?.version).toBe(1);
    expect(g.active(now)?.policy.version).toBe(1);
    expect(g.installInitial(now + 1)).toBeUndefined();
    const kinds = s.db.prepare('SELECT kind FROM audit_log').all() as { kind: string }[];
    expect(kinds.map((k) => k.kind)).toEqual(['policy.installed']);
  });

  it('refuses a first version signed by one admin (the node does not start on it)', () => {
    const g = governance(fresh(), 0, signed(document(1), [0]));
    expect(() => g.installInitial(1)).toThrow(PolicyVersionError);
  });

  it('a new version waits for this node’s timelock from its own receipt time, not the publisher’s', () => {
    const s = fresh();
    const g = governance(s, 24 * HOUR, signed(document(1), [0, 1]));
    const t0 = 1_800_000_000_000;
    g.installInitial(t0);
    const doc2 = document(2);
    // The wire's receivedAtMs is ignored: the node records its own time.
    const { view, isNew } = g.submit(
      { ...signed(doc2, [1, 2]), receivedAtMs: 0 },
      'api:policy-admin',
      t0 + HOUR,
    );
    expect(isNew).toBe(true);
    expect(view.activeFromMs).toBe(t0 + 25 * HOUR);
    expect(g.active(t0 + 24 * HOUR)?.policy.version).toBe(1);
    expect(g.active(t0 + 25 * HOUR)?.policy.version).toBe(2);
    // The same version again: recorded once, receipt time unchanged.
    expect(g.submit(signed(doc2, [0, 1]), 'peer:node-b', t0 + 2 * HOUR).isNew).toBe(false);
    expect(g.view(t0).versions.map((v) => v.receivedAtMs)).toEqual([t0, t0 + HOUR]);
  });

  it('the version in force at a given time changes when a new version is stored (no stale answer)', () => {
    const s = fresh();
    const g = governance(s, 0, signed(document(1), [0, 1]));
    const t0 = 1_800_000_000_000;
    g.installInitial(t0);
    // Asked twice for the same time (as every evaluation of one request does), then a version arrives.
    expect(g.active(t0 + HOUR)?.policy.version).toBe(1);
    expect(g.active(t0 + HOUR)?.policy.version).toBe(1);
    g.submit(signed(document(2), [0, 2]), 'api:policy-admin', t0);
    expect(g.active(t0 + HOUR)?.policy.version).toBe(2);
  });

  it('refuses forged, under-signed and duplicated-signature versions, naming the reason', () => {
    const g = governance(fresh(), 0, signed(document(1), [0, 1]));
    g.installInitial(1);
    const doc = document(2);
    const mallory = SigningKey.generate();
    const forged = {
      document: doc,
      signatures: [
        signPolicy(parsePolicy(doc), 'admin-1', mallory),
        signPolicy(parsePolicy(doc), 'admin-2', mallory),
      ],
    };
    const one = signed(doc, [0]);
    const twice = { document: doc, signatures: [one.signatures[0]!, one.signatures[0]!] };
    for (const body of [forged, one, twice])
      expect(() => g.submit(body, 'api:x', 2)).toThrow(/valid admin signatures, 2 required/);
    expect(() => g.submit({ document: doc, signatures: 'x' }, 'api:x', 2)).toThrow(PolicyVersionError);
    expect(g.active(10)?.policy.version).toBe(1);
  });
});

describe('receipts', () => {
  it('accepts a receipt only under its signer’s pinned key, and stores it once', async () => {
    const s = fresh();
    const nodeB = SigningKey.generate();
    const book = new ReceiptBook({
      db: s.db,
      audit: s.audit,
      log: pino({ level: 'silent' }),
      nodeId: 'node-a',
      identityKeys: new Map([['node-b', nodeB.publicKey]]),
      sign: async () => new Uint8Array(64),
      sendNotice: async () => undefined,
      peers: () => [],
    });
    const body: ReceiptBody = {
      format: 'coffer-receipt/1',
      ...transferReceipt(0xab, 'req-1', `sg-${'0'.repeat(32)}`, 1_000),
      signer: 'node-b',
    };
    const good = { body, signature: bytesToHex(nodeB.sign(receiptMessage(body))) };
    const forged = { body, signature: bytesToHex(SigningKey.generate().sign(receiptMessage(body))) };
    const edited = { body: { ...body, amount: '1' }, signature: good.signature };
    const unknownSigner = { body: { ...body, signer: 'node-x' }, signature: good.signature };
    expect(book.accept(forged)).toBe(false);
    expect(book.accept(edited)).toBe(false);
    expect(book.accept(unknownSigner)).toBe(false);
    expect(book.accept({ body: { ...body, extra: 1 }, signature: good.signature })).toBe(false);
    expect(book.accept(good)).toBe(true);
    expect(book.accept(good)).toBe(true);
    expect(book.receiptsIn(0, 2_000)).toEqual([good]);
    expect(book.receiptsIn(1_000, 2_000)).toEqual([]);
  });
});

describe('authorizations in flight', () => {
  it('count while running, after a failure past the signature-share round, never after an early failure', () => {
    const s = fresh();
    const book = new ReceiptBook({
      db: s.db,
      audit: s.audit,
      log: pino({ level: 'silent' }),
      nodeId: 'node-a',
      identityKeys: new Map(),
      sign: async () => new Uint8Array(64),
      sendNotice: async () => undefined,
      peers: () => [],
    });
    const now = Date.now();
    s.db
      .prepare(
        "INSERT INTO wallets (key_id, scheme, threshold, parties, public_key, chain_code, created_at) VALUES (?, 'ecdsa-secp256k1', 2, 3, '', '', '')",
      )
      .run('cd'.repeat(32));
    // The authorization of request number `i` in `session` (one shape for every case below).
    const authorization = (i: number, requestId: string, session: string) =>
      transferReceipt(i, requestId, session, now);
    const cases: Array<[string, string | null, number, string, boolean]> = [
      ['running', 'running', 1, 'ecdsa-secp256k1', true],
      ['withheld-last', 'aborted', 3, 'ecdsa-secp256k1', true],
      ['early-abort', 'aborted', 2, 'ecdsa-secp256k1', false],
      ['frost-timeout', 'timed-out', 2, 'schnorr-secp256k1-tr', true],
      ['frost-round-1', 'timed-out', 1, 'eddsa-ed25519', false],
      ['no-session-yet', null, 0, 'ecdsa-secp256k1', true],
    ];
    for (const [i, [name, status, round, scheme]] of cases.entries()) {
      const session = `sg-${i.toString(16).padStart(32, '0')}`;
      if (status !== null)
        s.db
          .prepare(
            "INSERT INTO sessions (id, kind, participants, status, round, created_at, updated_at, scheme) VALUES (?, 'sign', '[]', ?, ?, '', '', ?)",
          )
          .run(session, status, round, scheme);
      book.recordAuthorization(authorization(i, name, session), now);
    }
    const counted = book
      .inFlight(now)
      .map((r) => r.requestId)
      .sort();
    expect(counted).toEqual(
      cases
        .filter((c) => c[4])
        .map((c) => c[0])
        .sort(),
    );
    // A retry of a request whose earlier session failed early counts again; one whose earlier session
    // may have produced the signature keeps that record (the request is counted once either way).
    const retry = (i: number, session: string, status: string, round: number) => {
      s.db
        .prepare(
          "INSERT INTO sessions (id, kind, participants, status, round, created_at, updated_at, scheme) VALUES (?, 'sign', '[]', ?, ?, '', '', 'ecdsa-secp256k1')",
        )
        .run(session, status, round);
      const previous = book.inFlight(now).find((r) => r.requestDigest === i.toString(16).padStart(64, '0'));
      book.recordAuthorization({ ...(previous ?? {}), ...authorization(i, cases[i]![0], session) }, now);
    };
    retry(2, `sg-${'e'.repeat(32)}`, 'running', 1);
    retry(1, `sg-${'f'.repeat(32)}`, 'aborted', 1);
    expect(book.inFlight(now).map((r) => r.requestId)).toEqual(
      expect.arrayContaining(['early-abort', 'withheld-last']),
    );
    // Without a session row, an authorization stops counting after its TTL.
    expect(book.inFlight(now + 11 * 60_000).map((r) => r.requestId)).not.toContain('no-session-yet');
    expect(book.inFlight(now + 11 * 60_000).map((r) => r.requestId)).toContain('withheld-last');
  });
});

describe('limit history exchange', () => {
  /** Three in-process receipt books wired through their notices; `silent` nodes never answer. */
  function network(silent: string[]) {
    const ids = ['node-a', 'node-b', 'node-c'];
    const keys = new Map(ids.map((id) => [id, SigningKey.generate()]));
    const identityKeys = new Map(ids.map((id) => [id, keys.get(id)!.publicKey]));
    const books = new Map<string, ReceiptBook>();
    for (const id of ids) {
      const s = fresh();
      books.set(
        id,
        new ReceiptBook({
          db: s.db,
          audit: s.audit,
          log: pino({ level: 'silent' }),
          nodeId: id,
          identityKeys,
          sign: async (m) => keys.get(id)!.sign(m),
          sendNotice: async (peer, topic, body) => {
            if (silent.includes(peer)) return;
            setImmediate(() => {
              try {
                books.get(peer)!.handleNotice(id, topic, body);
              } catch {
                // refused, as the node's NoticeRouter would log it
              }
            });
          },
          peers: () => ids.filter((p) => p !== id),
        }),
      );
    }
    return books;
  }
  const receipt = (n: number) =>
    transferReceipt(n, `req-${n}`, `sg-${n.toString(16).padStart(32, '0')}`, Date.now() - 1_000);

  it('is complete with n − t + 1 answers and carries the peers’ signed receipts and authorizations', async () => {
    const books = network(['node-c']);
    // node-b signed one request (node-c silent: it never delivers) and authorized another.
    await books.get('node-b')!.issue(receipt(1));
    books.get('node-b')!.recordAuthorization(receipt(2), Date.now());
    await new Promise((r) => setTimeout(r, 20));
    const answer = await books
      .get('node-a')!
      .queryHistory(['node-a', 'node-b', 'node-c'], 2, 0, Date.now(), 2_000);
    expect(answer.answered).toEqual(['node-a', 'node-b']);
    expect(new Set(answer.entries.map((e) => e.requestId))).toEqual(new Set(['req-1', 'req-2']));
  });

  it('is incomplete when too few key holders answer in time (the gate then denies limit-history-unknown)', async () => {
    const books = network(['node-b', 'node-c']);
    const started = Date.now();
    const answer = await books
      .get('node-a')!
      .queryHistory(['node-a', 'node-b', 'node-c'], 2, 0, Date.now(), 300);
    expect(answer.answered).toEqual(['node-a']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('refuses a reply that relays a forged receipt or speaks for another node’s authorizations', () => {
    const books = network([]);
    const a = books.get('node-a')!;
    const forgedReceipt = {
      body: { format: 'coffer-receipt/1', ...receipt(3), signer: 'node-c' },
      signature: 'ab'.repeat(64),
    };
    // No query is waiting: an unsolicited reply is ignored, never stored.
    a.handleNotice(
      'node-b',
      'history.reply',
      JSON.stringify({
        queryId: `hq-${'0'.repeat(32)}`,
        complete: true,
        receipts: [forgedReceipt],
        pending: [],
      }),
    );
    expect(a.receiptsIn(0, Date.now())).toEqual([]);
    expect(() => a.handleNotice('node-b', 'receipt', JSON.stringify(forgedReceipt))).toThrow(
      /does not verify/,
    );
  });
});

describe('denylist file', () => {
  it('is re-read when it changes; a missing file fails closed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-denylist-'));
    dirs.push(dir);
    const file = join(dir, 'denylist.txt');
    const list = new Denylist(file);
    expect(list.check('evm', '0xabc')).toMatchObject({ status: 'unavailable' });
    writeFileSync(file, '# comment\n0xABC  # sanctioned\n\n');
    expect(list.check('evm', '0xabc')).toMatchObject({ status: 'hit' });
    expect(list.check('tron', 'TXYZ')).toEqual({ status: 'clear' });
    writeFileSync(file, 'TXYZ\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    expect(list.check('evm', '0xabc')).toEqual({ status: 'clear' });
    expect(list.check('tron', 'TXYZ')).toMatchObject({ status: 'hit' });
    expect(list.check('tron', 'txyz')).toEqual({ status: 'clear' });
    rmSync(file);
    expect(list.check('tron', 'TXYZ')).toMatchObject({ status: 'unavailable' });
  });
});
