// kill -9 a signer node in the middle of key generation and in the middle of signing (right after it
// persisted and released round 1 or 2), restart it, and check: every share intact, the open session
// recorded as aborted, the single-use records still there and never written twice, the next signing
// works. The coordinator's session is recorded as timed out and blames the killed node. The same for
// ecdsa-secp256k1 (DKLs23): key generation, each of the three signing rounds, a presigning round, and
// right after a presignature was consumed — no nonce or presignature record lost or used twice.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowRawDigests, type NodeProcess } from '../src/dev/cluster.ts';
import { api, type Cluster, metric, startCluster, verifySignature } from './helpers/cluster.ts';

// Long enough for a DKLs23 key-generation round on 2 cores; crash cases do not wait for it, since a
// restarted node tells the other members at once that it lost the session.
const ROUND_MS = 20_000;
let c: Cluster;
const digest = (n: number) => n.toString(16).padStart(2, '0').repeat(32);

beforeAll(async () => {
  c = await startCluster({ roundMs: ROUND_MS });
}, 120_000);

afterAll(async () => {
  await c?.stopAll();
});

function query<T>(node: NodeProcess, sql: string, ...args: unknown[]): T[] {
  const db = new Database(join(node.spec.dir, 'data', 'node.sqlite'), { readonly: true });
  try {
    return db.prepare(sql).all(...args) as T[];
  } finally {
    db.close();
  }
}

async function restartWith(node: NodeProcess, stall?: string) {
  await node.kill9();
  await node.start(stall ? { env: { COFFER_TEST_STALL: stall } } : {});
}

describe('crash safety (kill -9)', () => {
  const [a, , victim] = [0, 1, 2].map((i) => () => c.nodes[i]!);
  let wallet: { id: string; publicKey: string };

  it('kill -9 during key generation: the run aborts and blames the dead node; existing shares survive', async () => {
    const first = await api(a!(), 'POST', '/v1/keys', {
      token: c.spec.adminToken,
      body: { scheme: 'schnorr-secp256k1-tr', threshold: 2, parties: 3 },
    });
    expect(first.status).toBe(201);
    wallet = first.body as typeof wallet;
    await allowRawDigests(c.spec, [wallet]);

    await restartWith(victim!(), 'keygen:2');
    const pending = api(a!(), 'POST', '/v1/keys', {
      token: c.spec.adminToken,
      body: { scheme: 'schnorr-secp256k1-tr', threshold: 2, parties: 3 },
    });
    const stalled = await victim!().waitForEvent('stalled');
    await victim!().kill9();
    await victim!().start();
    const failed = await pending;
    expect(failed.status, JSON.stringify(failed.body)).toBeGreaterThanOrEqual(500);
    expect(failed.body.culprits, JSON.stringify(failed.body)).toEqual(['node-c']);
    const coordinatorRow = query<{ status: string; culprits: string }>(
      a!(),
      'SELECT status, culprits FROM sessions WHERE id = ?',
      stalled.session,
    );
    // Timed out waiting for node-c, or gave up delivering to it: either way node-c is named.
    expect(coordinatorRow[0]!.culprits).toBe('["node-c"]');
    expect(['timed-out', 'aborted']).toContain(coordinatorRow[0]!.status);

    const row = query<{ status: string; reason: string }>(
      victim!(),
      'SELECT status, reason FROM sessions WHERE id = ?',
      stalled.session,
    );
    expect(row[0]!.status).toBe('aborted');
    expect(row[0]!.reason).toMatch(/restarted/);
    // No half-created wallet anywhere; the earlier wallet is intact on the restarted node.
    for (const n of c.nodes)
      expect((await api(n, 'GET', '/v1/wallets', { token: c.spec.adminToken })).body.wallets).toHaveLength(1);
    const s = await api(victim!(), 'POST', '/v1/sign', {
      token: c.spec.adminToken,
      body: { walletId: wallet.id, digest: digest(1) },
    });
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(
      verifySignature('schnorr-secp256k1-tr', wallet.publicKey, digest(1), s.body.signature as string),
    ).toBe(true);
  });

  it.each([1, 2])(
    'kill -9 during signing after releasing round %i: restart, no single-use record lost or reused, next signing works',
    async (round) => {
      await restartWith(victim!(), `sign:${round}`);
      // node-c coordinates, so node-c is one of the two signers.
      const pending = api(victim!(), 'POST', '/v1/sign', {
        token: c.spec.adminToken,
        body: { walletId: wallet.id, digest: digest(round + 10) },
      }).catch((e: Error) => ({ status: 0, body: { error: e.message } }));
      const stalled = (await victim!().waitForEvent('stalled')) as { session: string };
      await victim!().kill9();
      expect((await pending).status).toBe(0); // the connection died with the process
      const consumedBefore = query<{ id: string }>(
        victim!(),
        'SELECT id FROM consumed_nonces WHERE session_id = ?',
        stalled.session,
      );
      expect(consumedBefore.map((r) => r.id.split('/').at(-1))).toEqual(
        Array.from({ length: round }, (_, i) => String(i + 1)),
      );

      await victim!().start();
      const row = query<{ status: string }>(
        victim!(),
        'SELECT status FROM sessions WHERE id = ?',
        stalled.session,
      );
      expect(row[0]!.status).toBe('aborted');
      // node-c picks node-a or node-b as its co-signer. If the start message reached the co-signer
      // before the kill, the co-signer must give up on the dead node and name it; if the kill came
      // first, no peer ever heard of the session and there is nothing to record there.
      const peerRow = () =>
        c.nodes
          .slice(0, 2)
          .map(
            (n) =>
              query<{ status: string; culprits: string }>(
                n,
                'SELECT status, culprits FROM sessions WHERE id = ?',
                stalled.session,
              )[0],
          )
          .find((r) => r !== undefined);
      await expect
        .poll(() => peerRow()?.status ?? 'never-started', { timeout: 15_000 })
        .toMatch(/^(timed-out|aborted|never-started)$/);
      const outcome = peerRow();
      if (outcome) expect(outcome.culprits).toBe('["node-c"]');

      const next = await api(victim!(), 'POST', '/v1/sign', {
        token: c.spec.adminToken,
        body: { walletId: wallet.id, digest: digest(round + 20) },
      });
      expect(next.status, JSON.stringify(next.body)).toBe(200);
      expect(
        verifySignature(
          'schnorr-secp256k1-tr',
          wallet.publicKey,
          digest(round + 20),
          next.body.signature as string,
        ),
      ).toBe(true);
      const all = query<{ id: string; session_id: string }>(
        victim!(),
        'SELECT id, session_id FROM consumed_nonces',
      );
      expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
      expect(all.filter((r) => r.session_id === stalled.session)).toHaveLength(round);
      expect(new Set(all.map((r) => r.session_id)).size).toBeGreaterThan(1);
    },
  );
});

/** Writes (or removes) a node's presign config section; takes effect at the next start. */
function setPresign(node: NodeProcess, presign?: { poolSize: number; paths: string[] }): void {
  const cfg = JSON.parse(readFileSync(node.spec.config, 'utf8')) as Record<string, unknown>;
  if (presign) cfg.presign = presign;
  else delete cfg.presign;
  writeFileSync(node.spec.config, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
}

describe('crash safety (kill -9), ecdsa-secp256k1', () => {
  const [a, , victim] = [0, 1, 2].map((i) => () => c.nodes[i]!);
  let ecdsa: { id: string; publicKey: string };
  const signAt = (node: NodeProcess, d: string) =>
    api(node, 'POST', '/v1/sign', { token: c.spec.adminToken, body: { walletId: ecdsa.id, digest: d } });
  const verifies = (d: string, signature: unknown) =>
    verifySignature('ecdsa-secp256k1', ecdsa.publicKey, d, signature as string);
  /** No presignature was released twice on any node: one session at most names each. */
  const noPresignatureReused = () => {
    for (const n of c.nodes) {
      const named = query<{ presignature_id: string }>(
        n,
        'SELECT presignature_id FROM sessions WHERE presignature_id IS NOT NULL',
      );
      expect(new Set(named.map((r) => r.presignature_id)).size).toBe(named.length);
      const records = query<{ id: string }>(
        n,
        "SELECT id FROM consumed_nonces WHERE kind = 'ecdsa-presignature'",
      );
      expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
    }
  };

  it('kill -9 during ECDSA key generation: the run aborts and blames the dead node; existing shares survive', async () => {
    // The one ECDSA key of this file (DKLs23 key generation over processes takes 10–15 s).
    const first = await api(a!(), 'POST', '/v1/keys', {
      token: c.spec.adminToken,
      body: { scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3 },
    });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    ecdsa = first.body as typeof ecdsa;
    await allowRawDigests(c.spec, [ecdsa]);
    await allowRawDigests(c.spec, [ecdsa]);
    const walletCount = async (n: NodeProcess) =>
      ((await api(n, 'GET', '/v1/wallets', { token: c.spec.adminToken })).body.wallets as unknown[]).length;
    const before = await walletCount(a!());

    await restartWith(victim!(), 'keygen:1');
    const pending = api(a!(), 'POST', '/v1/keys', {
      token: c.spec.adminToken,
      body: { scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3 },
    });
    const stalled = await victim!().waitForEvent('stalled', 60_000);
    await victim!().kill9();
    await victim!().start();
    const failed = await pending;
    expect(failed.status, JSON.stringify(failed.body)).toBeGreaterThanOrEqual(500);
    expect(failed.body.culprits, JSON.stringify(failed.body)).toEqual(['node-c']);
    const row = query<{ status: string; reason: string }>(
      victim!(),
      'SELECT status, reason FROM sessions WHERE id = ?',
      stalled.session,
    );
    expect(row[0]!.status).toBe('aborted');
    expect(row[0]!.reason).toMatch(/restarted/);
    for (const n of c.nodes) expect(await walletCount(n)).toBe(before);
    const s = await signAt(victim!(), digest(70));
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(verifies(digest(70), s.body.signature)).toBe(true);
  });

  it.each([1, 2, 3])(
    'kill -9 during ECDSA signing after releasing round %i: restart, no nonce record lost or reused, next signing works',
    async (round) => {
      await restartWith(victim!(), `sign:${round}`);
      const pending = signAt(victim!(), digest(round + 70)).catch((e: Error) => ({
        status: 0,
        body: { error: e.message },
      }));
      const stalled = (await victim!().waitForEvent('stalled')) as { session: string };
      await victim!().kill9();
      expect((await pending).status).toBe(0);
      const consumedBefore = query<{ id: string }>(
        victim!(),
        'SELECT id FROM consumed_nonces WHERE session_id = ?',
        stalled.session,
      );
      expect(consumedBefore.map((r) => r.id.split('/').at(-1))).toEqual(
        Array.from({ length: round }, (_, i) => String(i + 1)),
      );

      await victim!().start();
      const row = query<{ status: string }>(
        victim!(),
        'SELECT status FROM sessions WHERE id = ?',
        stalled.session,
      );
      expect(row[0]!.status).toBe('aborted');
      // After round 3 the co-signer may hold everything it needs and finish (its own check verified
      // the signature); after rounds 1 and 2 it must give up on the dead node and name it.
      const peerRow = () =>
        c.nodes
          .slice(0, 2)
          .map(
            (n) =>
              query<{ status: string; culprits: string }>(
                n,
                'SELECT status, culprits FROM sessions WHERE id = ?',
                stalled.session,
              )[0],
          )
          .find((r) => r !== undefined);
      await expect
        .poll(() => peerRow()?.status ?? 'never-started', { timeout: 15_000 })
        .toMatch(
          round === 3 ? /^(timed-out|aborted|never-started|done)$/ : /^(timed-out|aborted|never-started)$/,
        );
      const outcome = peerRow();
      if (outcome && outcome.status !== 'done') expect(outcome.culprits).toBe('["node-c"]');

      const next = await signAt(victim!(), digest(round + 80));
      expect(next.status, JSON.stringify(next.body)).toBe(200);
      expect(verifies(digest(round + 80), next.body.signature)).toBe(true);
      const all = query<{ id: string; session_id: string }>(
        victim!(),
        'SELECT id, session_id FROM consumed_nonces',
      );
      expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
      expect(all.filter((r) => r.session_id === stalled.session)).toHaveLength(round);
    },
  );

  it('kill -9 during a presigning round: the run leaves no presignature anywhere; the next signing works', async () => {
    // node-c keeps one presignature for path m; its first refill after start-up stalls after round 1.
    setPresign(victim!(), { poolSize: 1, paths: ['m'] });
    await restartWith(victim!(), 'presign:1');
    const stalled = (await victim!().waitForEvent('stalled')) as { session: string };
    await victim!().kill9();
    expect(
      query(victim!(), 'SELECT id FROM consumed_nonces WHERE session_id = ?', stalled.session).map((r) =>
        (r as { id: string }).id.split('/').at(-1),
      ),
    ).toEqual(['1']);
    await victim!().start();
    const row = query<{ status: string; kind: string }>(
      victim!(),
      'SELECT status, kind FROM sessions WHERE id = ?',
      stalled.session,
    );
    expect(row[0]).toEqual({ status: 'aborted', kind: 'presign' });
    for (const n of c.nodes)
      expect(query(n, 'SELECT id FROM presignatures WHERE session_id = ?', stalled.session)).toHaveLength(0);
    const s = await signAt(victim!(), digest(90));
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(verifies(digest(90), s.body.signature)).toBe(true);
    noPresignatureReused();
  });

  it('kill -9 right after a presignature was consumed: it stays consumed and is never used again', async () => {
    await restartWith(victim!(), 'sign:1'); // presigning runs are not stalled, only signing
    await expect.poll(() => metric(victim!(), 'coffer_presignatures_ready'), { timeout: 30_000 }).toBe(1);
    const [ready] = query<{ id: string }>(victim!(), "SELECT id FROM presignatures WHERE status = 'ready'");
    const pending = signAt(victim!(), digest(91)).catch((e: Error) => ({
      status: 0,
      body: { error: e.message },
    }));
    const stalled = (await victim!().waitForEvent('stalled')) as { session: string };
    await victim!().kill9();
    expect((await pending).status).toBe(0);
    const consumed = () =>
      query<{ status: string; consumed_by: string }>(
        victim!(),
        'SELECT status, consumed_by FROM presignatures WHERE id = ?',
        ready!.id,
      )[0];
    expect(consumed()).toEqual({ status: 'consumed', consumed_by: stalled.session });
    expect(
      query(
        victim!(),
        'SELECT id FROM consumed_nonces WHERE id = ? AND session_id = ?',
        `presignature/${ready!.id}`,
        stalled.session,
      ),
    ).toHaveLength(1);

    await victim!().start();
    expect(consumed()).toEqual({ status: 'consumed', consumed_by: stalled.session });
    const next = await signAt(victim!(), digest(92));
    expect(next.status, JSON.stringify(next.body)).toBe(200);
    expect(verifies(digest(92), next.body.signature)).toBe(true);
    const used = query<{ id: string }>(
      victim!(),
      'SELECT id FROM sessions WHERE presignature_id = ?',
      ready!.id,
    );
    expect(used.map((r) => r.id)).toEqual([stalled.session]);
    noPresignatureReused();
    setPresign(victim!());
  });
});
