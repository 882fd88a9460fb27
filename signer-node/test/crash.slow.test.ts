// kill -9 a signer node in the middle of key generation and in the middle of signing (right after it
// persisted and released round 1 or 2), restart it, and check: every share intact, the open session
// recorded as aborted, the single-use records still there and never written twice, the next signing
// works. The coordinator's session is recorded as timed out and blames the killed node.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowRawDigests, type NodeProcess } from '../src/dev/cluster.ts';
import { api, type Cluster, startCluster, verifySignature } from './helpers/cluster.ts';

const ROUND_MS = 3_000;
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

    await victim!().start();
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
        .poll(() => peerRow()?.status ?? 'never-started', { timeout: ROUND_MS * 4 })
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
