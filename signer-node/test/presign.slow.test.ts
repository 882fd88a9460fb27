// ECDSA presignatures, bans and the review lock across three real signer-node processes (DESIGN §3
// items 5–7). One 2-of-3 ECDSA key is generated once; node-a keeps a pool of presignatures for path
// m/1. Checked here: a presigned signature needs one online round and verifies (noble) under the
// derived key; a presignature is consumed once, in every member's database, and never for another
// path; a restart discards the pool; a failed multiplication check bans the peer and discards the
// pairwise setup for good (restart and ban clearance included); a bad signature share, or a member's
// report of a signature that does not verify (arriving after the caller got the coordinator's own,
// verified signature), locks the wallet with no retry.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowRawDigests, type NodeProcess } from '../src/dev/cluster.ts';
import { api, type Cluster, metric, startCluster, verifySignature } from './helpers/cluster.ts';

const ROUND_MS = 20_000; // a DKLs23 key-generation round on 2 cores; no case waits for it
const POOL = 2;
let c: Cluster;
let wallet: { id: string; publicKey: string; chainCode: string };
const digest = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const node = (id: 'a' | 'b' | 'c') => c.nodes['abc'.indexOf(id)]!;

function query<T>(n: NodeProcess, sql: string, ...args: unknown[]): T[] {
  const db = new Database(join(n.spec.dir, 'data', 'node.sqlite'), { readonly: true });
  try {
    return db.prepare(sql).all(...args) as T[];
  } finally {
    db.close();
  }
}

/** Writes (or removes) the node's presign config section; takes effect at the next start. */
function setPresign(n: NodeProcess, presign?: { poolSize: number; paths: string[] }): void {
  const cfg = JSON.parse(readFileSync(n.spec.config, 'utf8')) as Record<string, unknown>;
  if (presign) cfg.presign = presign;
  else delete cfg.presign;
  writeFileSync(n.spec.config, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
}

/** BIP32 CKDpub (non-hardened) with noble's primitives, independent of Coffer's derivation code. */
function childKey(publicKey: string, chainCode: string, path: string): string {
  let K = secp256k1.Point.fromBytes(hexToBytes(publicKey));
  let code: Uint8Array = hexToBytes(chainCode);
  for (const step of path.split('/').slice(1)) {
    const data = new Uint8Array(37);
    data.set(K.toBytes(true));
    new DataView(data.buffer).setUint32(33, Number(step));
    const I = hmac(sha512, code, data);
    K = secp256k1.Point.BASE.multiply(bytesToNumberBE(I.subarray(0, 32))).add(K);
    code = I.slice(32);
  }
  return bytesToHex(K.toBytes(true));
}

/** Policy wallet ids of the derived keys (the dev policy allows raw digests per derived key). */
const policyWallet = (path: string) => (path === 'm' ? wallet.id : `presign-${path.replaceAll('/', '-')}`);

async function sign(n: NodeProcess, d: string, path: string) {
  return api(n, 'POST', '/v1/sign', {
    token: c.spec.adminToken,
    body: { wallet: policyWallet(path), walletId: wallet.id, digest: d, path },
  });
}

type SessionRow = { id: string; presignature_id: string | null; round: number; status: string };
const lastSign = (n: NodeProcess) =>
  query<SessionRow>(
    n,
    "SELECT id, presignature_id, round, status FROM sessions WHERE kind = 'sign' ORDER BY created_at DESC, rowid DESC LIMIT 1",
  )[0]!;

beforeAll(async () => {
  c = await startCluster({ roundMs: ROUND_MS });
  setPresign(node('a'), { poolSize: POOL, paths: ['m/1'] });
  await node('a').kill9();
  await node('a').start();
  const res = await api(node('a'), 'POST', '/v1/keys', {
    token: c.spec.adminToken,
    body: { scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3 },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  wallet = res.body as typeof wallet;
  await allowRawDigests(c.spec, [
    wallet,
    ...['m/1', 'm/2'].map((p) => ({
      id: policyWallet(p),
      publicKey: childKey(wallet.publicKey, wallet.chainCode, p),
    })),
  ]);
}, 180_000);

afterAll(async () => {
  await c?.stopAll();
});

describe('presignature pool (ecdsa-secp256k1)', () => {
  it('fills the pool in the background and exposes it as gauges', async () => {
    await expect.poll(() => metric(node('a'), 'coffer_presignatures_ready'), { timeout: 30_000 }).toBe(POOL);
    expect(await metric(node('a'), 'coffer_presignature_pool_target')).toBe(POOL);
    const rows = query<{ path: string; status: string; signers: string }>(
      node('a'),
      'SELECT path, status, signers FROM presignatures',
    );
    expect(rows.filter((r) => r.status === 'ready')).toHaveLength(POOL);
    expect(rows.every((r) => r.path === 'm/1' && JSON.parse(r.signers).includes('node-a'))).toBe(true);
    // The members hold the same presignatures (same ids) without using them themselves.
    const co = JSON.parse(rows[0]!.signers).find((s: string) => s !== 'node-a') as 'node-b' | 'node-c';
    expect(await metric(node(co.at(-1) as 'b' | 'c'), 'coffer_presignatures_held')).toBeGreaterThanOrEqual(1);
    expect(await metric(node(co.at(-1) as 'b' | 'c'), 'coffer_presignatures_ready')).toBe(0);
  });

  it('signs with a presignature in one online round; the signature verifies under the derived key', async () => {
    const res = await sign(node('a'), digest(1), 'm/1');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const child = childKey(wallet.publicKey, wallet.chainCode, 'm/1');
    expect(verifySignature('ecdsa-secp256k1', child, digest(1), res.body.signature as string)).toBe(true);
    expect(
      verifySignature('ecdsa-secp256k1', wallet.publicKey, digest(1), res.body.signature as string),
    ).toBe(false);
    const s = lastSign(node('a'));
    expect(s.presignature_id).toMatch(/^[0-9a-f]+$/);
    expect(s.round).toBe(1); // one release: the online round only
    // Consumed by exactly this session at the coordinator and at the member, in the same transaction
    // as the release (the consumed_nonces record carries the session).
    const member = (res.body.signers as string[]).find((x) => x !== 'node-a')!;
    for (const n of [node('a'), c.nodes.find((x) => x.spec.id === member)!]) {
      const row = query<{ status: string; consumed_by: string }>(
        n,
        'SELECT status, consumed_by FROM presignatures WHERE id = ?',
        s.presignature_id,
      )[0]!;
      expect(row).toEqual({ status: 'consumed', consumed_by: s.id });
      expect(
        query(
          n,
          'SELECT id FROM consumed_nonces WHERE id = ? AND session_id = ?',
          `presignature/${s.presignature_id}`,
          s.id,
        ),
      ).toHaveLength(1);
    }
  });

  it('a presignature for another path is never used: m/2 runs the three-round protocol', async () => {
    const consumedBefore = query(node('a'), "SELECT id FROM presignatures WHERE status = 'consumed'").length;
    const res = await sign(node('a'), digest(2), 'm/2');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(
      verifySignature(
        'ecdsa-secp256k1',
        childKey(wallet.publicKey, wallet.chainCode, 'm/2'),
        digest(2),
        res.body.signature as string,
      ),
    ).toBe(true);
    const s = lastSign(node('a'));
    expect(s.presignature_id).toBeNull();
    expect(s.round).toBe(3);
    expect(query(node('a'), "SELECT id FROM presignatures WHERE status = 'consumed'")).toHaveLength(
      consumedBefore,
    );
  });

  it('no presignature is ever used twice, at any node, across a run of signings', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await sign(node('a'), digest(10 + i), 'm/1');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(
        verifySignature(
          'ecdsa-secp256k1',
          childKey(wallet.publicKey, wallet.chainCode, 'm/1'),
          digest(10 + i),
          res.body.signature as string,
        ),
      ).toBe(true);
    }
    let presigned = 0;
    for (const n of c.nodes) {
      const sessions = query<{ id: string; presignature_id: string; status: string }>(
        n,
        'SELECT id, presignature_id, status FROM sessions WHERE presignature_id IS NOT NULL',
      );
      expect(new Set(sessions.map((r) => r.presignature_id)).size).toBe(sessions.length);
      for (const r of sessions.filter((x) => x.status === 'done')) {
        const p = query<{ status: string; consumed_by: string }>(
          n,
          'SELECT status, consumed_by FROM presignatures WHERE id = ?',
          r.presignature_id,
        )[0]!;
        expect(p).toEqual({ status: 'consumed', consumed_by: r.id });
      }
      const records = query<{ id: string }>(
        n,
        "SELECT id FROM consumed_nonces WHERE kind = 'ecdsa-presignature'",
      );
      expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
      if (n.spec.id === 'node-a') presigned = sessions.filter((x) => x.status === 'done').length;
    }
    expect(presigned).toBeGreaterThanOrEqual(2);
  });

  it('a restart discards every unused presignature (secrets were only in memory), then refills', async () => {
    await expect.poll(() => metric(node('a'), 'coffer_presignatures_ready'), { timeout: 30_000 }).toBe(POOL);
    const ready = query<{ id: string }>(node('a'), "SELECT id FROM presignatures WHERE status = 'ready'");
    expect(ready).toHaveLength(POOL);
    await node('a').kill9();
    await node('a').start();
    for (const r of ready) {
      const row = query<{ status: string; reason: string }>(
        node('a'),
        'SELECT status, reason FROM presignatures WHERE id = ?',
        r.id,
      )[0]!;
      expect(row.status).toBe('discarded');
      expect(row.reason).toMatch(/restarted/);
    }
    const res = await sign(node('a'), digest(30), 'm/1');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(ready.map((r) => r.id)).not.toContain(lastSign(node('a')).presignature_id);
    await expect.poll(() => metric(node('a'), 'coffer_presignatures_ready'), { timeout: 30_000 }).toBe(POOL);
  });
});

describe('bans and the review lock (ecdsa-secp256k1)', () => {
  it('a failed multiplication check bans the peer and discards the pairwise setup for good — selective-failure attack', async () => {
    const sealedBefore = query<{ sealed: Uint8Array }>(
      node('a'),
      'SELECT sealed FROM sealed_shares WHERE key_id = ?',
      wallet.id,
    )[0]!.sealed;
    // node-b corrupts τ in its round-2 direct messages, and stops every key generation after round 1.
    await node('b').kill9();
    await node('b').start({ env: { COFFER_TEST_TAMPER: 'multiplication', COFFER_TEST_STALL: 'keygen:1' } });
    // A session with node-b is open at node-a (key generation waiting for node-b's round 2) …
    const keygen = api(node('a'), 'POST', '/v1/keys', {
      token: c.spec.adminToken,
      body: { scheme: 'schnorr-secp256k1-tr', threshold: 2, parties: 3 },
    });
    const open = (await node('b').waitForEvent('stalled')) as { session: string };
    // … when node-a signs with node-b (first reachable; no pool for m) and catches the tampered τ.
    await sign(node('a'), digest(40), 'm');
    await expect
      .poll(
        () =>
          query(node('a'), "SELECT peer_id FROM peer_bans WHERE peer_id = 'node-b' AND cleared_at IS NULL"),
        {
          timeout: 15_000,
        },
      )
      .toHaveLength(1);
    const ban = query<{ reason: string }>(
      node('a'),
      "SELECT reason FROM peer_bans WHERE peer_id = 'node-b'",
    )[0]!;
    expect(ban.reason).toMatch(/multiplication-check-failed/);
    expect(
      query(
        node('a'),
        "SELECT peer_id FROM unusable_setups WHERE key_id = ? AND peer_id = 'node-b'",
        wallet.id,
      ),
    ).toHaveLength(1);
    // The stored share was re-sealed without the setup (same generation, new blob).
    await expect
      .poll(
        () =>
          Buffer.from(
            query<{ sealed: Uint8Array }>(
              node('a'),
              'SELECT sealed FROM sealed_shares WHERE key_id = ?',
              wallet.id,
            )[0]!.sealed,
          ).equals(Buffer.from(sealedBefore)),
        { timeout: 10_000 },
      )
      .toBe(false);
    expect(query(node('a'), 'SELECT generation FROM sealed_shares WHERE key_id = ?', wallet.id)).toHaveLength(
      1,
    );
    // Every other session with the banned peer was aborted at once, not at its round timeout.
    const abortedKeygen = await keygen;
    expect(abortedKeygen.status, JSON.stringify(abortedKeygen.body)).toBeGreaterThanOrEqual(500);
    expect(
      query<{ status: string; reason: string }>(
        node('a'),
        'SELECT status, reason FROM sessions WHERE id = ?',
        open.session,
      )[0],
    ).toMatchObject({ status: 'aborted', reason: expect.stringMatching(/^peer-banned: node-b was banned/) });
    // No presignature made with node-b is left usable at node-a.
    expect(
      query<{ signers: string }>(
        node('a'),
        "SELECT signers FROM presignatures WHERE status = 'ready'",
      ).filter((r) => JSON.parse(r.signers).includes('node-b')),
    ).toHaveLength(0);

    // Restart node-a and clear the ban: the discarded setup must still be refused, in both directions.
    await node('a').kill9();
    await node('a').start();
    await node('b').kill9();
    await node('b').start();
    const cleared = await api(node('a'), 'POST', '/v1/peers/node-b/clear-ban', { token: c.spec.adminToken });
    expect(cleared.status, JSON.stringify(cleared.body)).toBeLessThan(300);
    await node('c').kill9(); // node-a and node-b can only pair with each other now
    const asCoordinator = await sign(node('a'), digest(41), 'm');
    expect(asCoordinator.status).toBe(503);
    expect(String(asCoordinator.body.message)).toMatch(/refresh the wallet.*node-b/);
    const asMember = await sign(node('b'), digest(42), 'm');
    expect(asMember.status, JSON.stringify(asMember.body)).toBeGreaterThanOrEqual(500);
    expect(JSON.stringify(asMember.body)).toMatch(/pairwise setup with node-b was discarded/);
    const joined = query(
      node('a'),
      "SELECT id FROM sessions WHERE kind = 'sign' AND coordinator = 'node-b' AND created_at > ?",
      new Date(Date.now() - 60_000).toISOString(),
    );
    expect(joined).toHaveLength(0); // refused before a session (or an unsealed share) existed
    await node('c').start();
  });

  it('a bad signature share from a member locks the wallet; no retry; refused until cleared (Broken Record)', async () => {
    // node-a can sign only with node-c now; node-c sends a wrong w_i in the online round.
    await node('c').kill9();
    await node('c').start({ env: { COFFER_TEST_TAMPER: 'online' } });
    const res = await sign(node('a'), digest(50), 'm/1');
    expect(res.status, JSON.stringify(res.body)).toBe(423);
    expect(res.body.code).toBe('wallet-locked');
    const w = query<{ locked_reason: string }>(
      node('a'),
      'SELECT locked_reason FROM wallets WHERE key_id = ?',
      wallet.id,
    )[0]!;
    expect(w.locked_reason).toMatch(/signature-check-failed/);
    const locked = query<{ details: string }>(
      node('a'),
      "SELECT details FROM audit_log WHERE kind = 'wallet.locked'",
    );
    expect(locked).toHaveLength(1);
    const failedSession = JSON.parse(locked[0]!.details).session as string;
    // The failed session is the last one for the wallet: nothing was retried after the lock.
    const after = query<{ id: string }>(
      node('a'),
      "SELECT id FROM sessions WHERE kind = 'sign' AND key_id = ? AND rowid > (SELECT rowid FROM sessions WHERE id = ?)",
      wallet.id,
      failedSession,
    );
    expect(after).toHaveLength(0);
    const again = await sign(node('a'), digest(51), 'm');
    expect(again.status).toBe(423);
    expect(
      query(
        node('a'),
        "SELECT id FROM sessions WHERE kind = 'sign' AND rowid > (SELECT rowid FROM sessions WHERE id = ?)",
        failedSession,
      ),
    ).toHaveLength(0);
    expect(await metric(node('a'), 'coffer_presignatures_ready')).toBe(0);
    // After review an admin clears the lock through the API; it is audited and happens once.
    const path = `/v1/wallets/${wallet.id}/clear-lock`;
    const unlock = await api(node('a'), 'POST', path, { token: c.spec.adminToken });
    expect(unlock.status, JSON.stringify(unlock.body)).toBe(200);
    expect(unlock.body).toEqual({ cleared: true });
    expect((await api(node('a'), 'POST', path, { token: c.spec.adminToken })).body).toEqual({
      cleared: false,
    });
    expect(query(node('a'), 'SELECT locked_reason FROM wallets WHERE key_id = ?', wallet.id)).toEqual([
      { locked_reason: null },
    ]);
    expect(query(node('a'), "SELECT actor FROM audit_log WHERE kind = 'wallet.lock-cleared'")).toHaveLength(
      1,
    );
  });

  it('a member reporting a signature that does not verify locks the wallet at the coordinator', async () => {
    // node-b coordinates with node-c (node-a is down); node-c signs correctly but reports a corrupted
    // signature (COFFER_TEST_TAMPER=report). node-b's own signature verified, so the caller gets it at
    // once; the report arrives after and does not verify: the wallet is locked.
    await node('a').kill9();
    await node('c').kill9();
    await node('c').start({ env: { COFFER_TEST_TAMPER: 'report' } });
    const res = await sign(node('b'), digest(60), 'm');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(
      verifySignature('ecdsa-secp256k1', wallet.publicKey, digest(60), res.body.signature as string),
    ).toBe(true);
    await expect
      .poll(
        () =>
          query<{ locked_reason: string | null }>(
            node('b'),
            'SELECT locked_reason FROM wallets WHERE key_id = ?',
            wallet.id,
          )[0]!.locked_reason,
        { timeout: 10_000 },
      )
      .toMatch(/node-c reported a signature that does not verify/);
    const [last] = query<{ id: string; status: string }>(
      node('c'),
      "SELECT id, status FROM sessions WHERE kind = 'sign' ORDER BY rowid DESC LIMIT 1",
    );
    expect(last!.status).toBe('done'); // node-c's own party produced a valid signature
    expect(query(node('b'), 'SELECT status FROM sessions WHERE id = ?', last!.id)).toEqual([
      { status: 'aborted' },
    ]);
    // The coordinator's audit log shows its own sign.completed, then the session's failure.
    const trail = query<{ kind: string; details: string }>(
      node('b'),
      "SELECT kind, details FROM audit_log WHERE subject = ? AND kind IN ('sign.completed', 'session.aborted') ORDER BY seq",
      last!.id,
    );
    expect(trail.map((e) => e.kind)).toEqual(['sign.completed', 'session.aborted']);
    expect(JSON.parse(trail[1]!.details)).toMatchObject({ culprits: ['node-c'], afterOwnResult: true });
    expect((await sign(node('b'), digest(61), 'm')).status).toBe(423);
  });
});
