// Security checks of the session manager that need real protocol runs, with nodes in the test's process
// (helpers/network.ts: real SQLite files, real software keystores, real shares of a 2-of-3 ECDSA key)
// and a network the test controls:
// - a peer taken as up from recent traffic but dead gets one retry: a new session with fresh nonces,
//   every peer probed, after a start that reached no member;
// - locking a wallet (a member reported a signature that does not verify) aborts the wallet's other
//   running sessions at once, and they release nothing more;
// - a step that finishes two signing rounds at once (a peer's later message was waiting) records a
//   nonce use for each round it releases, before releasing it;
// - a presignature named in a start that has left is retired, never put back in the pool, when the
//   coordinator's own policy gate then refuses (a member may already have used its half).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionError } from '../src/sessions/manager.ts';
import type { Envelope } from '../src/transport/envelope.ts';
import { controlOf, type TestNetwork, testNetwork } from './helpers/network.ts';

let net: TestNetwork | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const digest = (fill: number) => new Uint8Array(32).fill(fill);

function sign(n: TestNetwork, fill: number, requestId: string) {
  n.addRequest(requestId, bytesToHex(digest(fill)));
  return n
    .node('node-a')
    .sessions.sign({ walletId: n.walletId, message: digest(fill), path: 'm', requestId }, 'test');
}

function sessionRows(n: TestNetwork) {
  return n
    .node('node-a')
    .db.prepare("SELECT id, status, reason FROM sessions WHERE kind = 'sign' ORDER BY rowid")
    .all() as Array<{ id: string; status: string; reason: string | null }>;
}

/** Resolves once the network log has an entry `match` selects. */
async function seen(n: TestNetwork, match: (e: Envelope) => boolean): Promise<Envelope> {
  for (let i = 0; i < 500; i++) {
    const hit = n.log.find((l) => match(l.envelope));
    if (hit) return hit.envelope;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('envelope not seen within 5 s');
}

function verifies(n: TestNetwork, fill: number, signatureHex: string): boolean {
  const wallet = n.node('node-a').db.prepare('SELECT public_key FROM wallets').get() as {
    public_key: string;
  };
  return secp256k1.verify(
    hexToBytes(signatureHex).subarray(0, 64),
    digest(fill),
    hexToBytes(wallet.public_key),
    {
      prehash: false,
    },
  );
}

describe('session checks with real protocol runs', () => {
  it('a start that reached no member is retried once with every peer probed, under a new session', async () => {
    net = await testNetwork(['node-a', 'node-b']);
    const n = net;
    // node-a heard from node-c lately, but node-c is dead; node-b does not answer node-a's first probe.
    n.heard = (node, ids) => new Set(node === 'node-a' ? ids.filter((p) => p === 'node-c') : []);
    let probesOfB = 0;
    n.probe = (_node, peer) => peer === 'node-b' && ++probesOfB > 1;
    const out = await sign(n, 1, 'req-retry');
    expect(out.signers).toEqual(['node-a', 'node-b']);
    expect(verifies(n, 1, out.signature)).toBe(true);
    const rows = sessionRows(n);
    expect(rows).toHaveLength(2);
    expect(rows[0]!.status).toBe('aborted');
    expect(rows[0]!.reason).toMatch(/node-c/);
    expect(rows[1]).toMatchObject({ id: out.sessionId, status: 'done' });
    // The first session released nothing to anyone: its start never left node-a.
    expect(n.log.filter((l) => l.envelope.session === rows[0]!.id)).toHaveLength(0);
  }, 60_000);

  it("a member's bad signature locks the wallet and aborts the wallet's other running session at once", async () => {
    // node-b reports a corrupted signature to its coordinator in every signing.
    net = await testNetwork(['node-a', 'node-b'], (id) => (id === 'node-b' ? { tamper: 'report' } : {}));
    const n = net;
    let first = '';
    // The first session runs, except that node-b's result waits; every envelope of the second is held.
    n.route = (e) => {
      if (!first && e.session.startsWith('sg-')) first = e.session;
      if (e.session !== first) return 'hold';
      return e.kind === 'control' && controlOf(e).type === 'result' ? 'hold' : 'deliver';
    };
    const one = await sign(n, 2, 'req-1');
    expect(verifies(n, 2, one.signature)).toBe(true); // node-a answers on its own verified signature
    const second = sign(n, 3, 'req-2').then(
      () => undefined,
      (e: unknown) => e,
    );
    const secondRound1 = await seen(
      n,
      (e) => e.session !== first && e.kind === 'protocol' && e.from === 'node-a',
    );
    const before = n.log.length;
    // node-b's bad result of the first session arrives now.
    n.releaseHeld((e) => e.session === first);
    const error = await second;
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).message).toMatch(/wallet-locked|locked for review/);
    const wallet = n.node('node-a').db.prepare('SELECT locked_reason FROM wallets').get() as {
      locked_reason: string | null;
    };
    expect(wallet.locked_reason).toMatch(/signature-check-failed/);
    const rows = sessionRows(n);
    expect(rows.find((r) => r.id === secondRound1.session)).toMatchObject({ status: 'aborted' });
    expect(rows.find((r) => r.id === secondRound1.session)!.reason).toMatch(/wallet-locked/);
    // node-b's round messages of the second session now reach node-a: it releases nothing more for it.
    n.route = () => 'deliver';
    n.releaseHeld();
    await new Promise((r) => setTimeout(r, 300));
    const after = n.log
      .slice(before)
      .filter((l) => l.envelope.session === secondRound1.session && l.envelope.from === 'node-a');
    expect(after.filter((l) => l.envelope.kind === 'protocol')).toHaveLength(0);
  }, 60_000);

  it('a step finishing two signing rounds records a nonce use for each round before releasing them', async () => {
    net = await testNetwork(['node-a', 'node-b']);
    const n = net;
    // node-b's round-1 message waits until its round-2 message is in node-a's hands.
    n.route = (e) => (e.from === 'node-b' && e.kind === 'protocol' && e.round === 1 ? 'hold' : 'deliver');
    const signing = sign(n, 4, 'req-two-rounds');
    const round2 = await seen(n, (e) => e.from === 'node-b' && e.kind === 'protocol' && e.round === 2);
    await new Promise((r) => setTimeout(r, 50));
    n.route = () => 'deliver';
    n.releaseHeld();
    const out = await signing;
    expect(verifies(n, 4, out.signature)).toBe(true);
    const log = n.log.filter((l) => l.envelope.session === round2.session).map((l) => l.envelope);
    const fromA = log.filter((e) => e.from === 'node-a' && e.kind === 'protocol').map((e) => e.round);
    expect(fromA).toEqual([1, 2, 3]);
    // node-a's rounds 2 and 3 left in one step, right after node-b's round 1 arrived.
    const at = log.findIndex((e) => e.from === 'node-a' && e.kind === 'protocol' && e.round === 2);
    expect(log[at + 1]).toMatchObject({ from: 'node-a', kind: 'protocol', round: 3 });
    const nonces = (
      n
        .node('node-a')
        .db.prepare('SELECT id FROM consumed_nonces WHERE session_id = ? ORDER BY id')
        .all(round2.session) as Array<{ id: string }>
    ).map((r) => r.id);
    expect(nonces).toEqual(fromA.map((r) => `${round2.session}/1/${r}`));
  }, 60_000);

  it("a presignature whose start has left is retired, not put back, when the coordinator's gate refuses", async () => {
    let refuse = false;
    net = await testNetwork(['node-a', 'node-b'], (id) => ({
      presign: { poolSize: 1, paths: ['m'] },
      ...(id === 'node-a'
        ? {
            authorizeSign: async () =>
              refuse ? { ok: false, reason: 'coordinator policy refuses' } : { ok: true },
          }
        : {}),
    }));
    const n = net;
    const db = n.node('node-a').db;
    const ready = () =>
      db.prepare("SELECT id FROM presignatures WHERE coordinator = 'node-a' AND status = 'ready'").get() as
        | { id: string }
        | undefined;
    for (let i = 0; i < 600 && !ready(); i++) await new Promise((r) => setTimeout(r, 50));
    const presignature = ready()?.id;
    expect(presignature).toBeDefined();
    refuse = true;
    const error = await sign(n, 5, 'req-refused').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'policy-denied' });
    // The start naming the presignature left before node-a's own gate decided.
    const start = n.log
      .map((l) => l.envelope)
      .find(
        (e) =>
          e.kind === 'control' && controlOf(e).type === 'start' && controlOf(e).presignature === presignature,
      );
    expect(start).toBeDefined();
    const row = db.prepare('SELECT status, reason FROM presignatures WHERE id = ?').get(presignature) as {
      status: string;
      reason: string | null;
    };
    expect(row.status).toBe('discarded');
    expect(row.reason).toMatch(/did not run/);
  }, 60_000);
});
