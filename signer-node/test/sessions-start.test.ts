// How a coordinator starts a signing session, at the session-manager level on a real SQLite file with a
// recording transport: the start leaves before the coordinator's own policy decision; while the
// coordinator is still deciding, a member cannot start a session of its own under the same id at the
// coordinator (session-id takeover), and a member's early refusal ends the session before the
// coordinator builds or releases anything (a refusal from a non-member does not); a member refuses a
// start its coordinator called off meanwhile, for a signing and for a key generation.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AuthorizationResult, SessionError } from '../src/sessions/manager.ts';
import { type NodeDatabase, openDatabase } from '../src/storage/db.ts';
import type { Envelope } from '../src/transport/envelope.ts';
import type { PeerTransport } from '../src/transport/peers.ts';
import { insertWallet, KEYGEN_START, PARTICIPANTS, testManager } from './helpers/node.ts';

const WALLET = 'ab'.repeat(32);
let dir: string;
let db: NodeDatabase;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-start-'));
  db = openDatabase(join(dir, 'node.sqlite'));
  insertWallet(db, WALLET);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

type Sent = { to: string; session: string; control: Record<string, unknown> };

/** node-a, whose own policy decision waits until `decide` is called (and, unless `sign` is false, signing). */
function coordinator(sign = true) {
  const sent: Sent[] = [];
  let decide: (r: AuthorizationResult) => void = () => {};
  const decision = new Promise<AuthorizationResult>((resolve) => {
    decide = resolve;
  });
  let asked: () => void = () => {};
  const deciding = new Promise<void>((resolve) => {
    asked = resolve;
  });
  const transport = {
    peerIds: () => ['node-b', 'node-c'],
    probe: async () => true,
    recentlyHeard: () => new Set<string>(),
    noteUp: () => {},
    send: async (to: string, m: { session: string; payload: Uint8Array }) => {
      sent.push({ to, session: m.session, control: JSON.parse(new TextDecoder().decode(m.payload)) });
    },
  } as unknown as PeerTransport;
  // No share is unsealed in these cases: the session ends before the party is built.
  const sessions = testManager(db, transport, {
    roundTimeoutMs: 2_000,
    authorizeSign: async () => {
      asked();
      return decision;
    },
  });
  if (!sign) return { sessions, sent, decide, deciding, signing: Promise.resolve(undefined) };
  const signing = sessions
    .sign({ walletId: WALLET, message: new Uint8Array(32).fill(9), path: 'm', requestId: 'req-1' }, 'test')
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  return { sessions, sent, decide, deciding, signing };
}

const envelope = (from: string, session: string, control: unknown): Envelope => ({
  kind: 'control',
  id: '00'.repeat(16),
  session,
  round: 0,
  from,
  to: 'node-a',
  encrypted: false,
  payload: new TextEncoder().encode(JSON.stringify(control)),
});

describe('starting a signing session', () => {
  it('the start leaves before the coordinator decides; a member cannot start that session id back at it', async () => {
    const c = coordinator();
    await c.deciding;
    await new Promise((r) => setImmediate(r));
    const start = c.sent.find((s) => s.control.type === 'start');
    expect(start?.to).toBe('node-b');
    const id = start!.session;
    // node-b answers with a key generation of its own under the coordinator's session id.
    await c.sessions.deliver(
      envelope('node-b', id, {
        type: 'start',
        kind: 'keygen',
        scheme: 'ecdsa-secp256k1',
        threshold: 2,
        parties: 3,
        participants: PARTICIPANTS,
        members: [1, 2, 3],
      }),
    );
    const refusal = c.sent.find((s) => s.to === 'node-b' && s.control.type === 'result');
    expect(refusal?.control).toMatchObject({
      status: 'aborted',
      reason: 'session id already used on this node',
    });
    expect(db.prepare('SELECT id FROM sessions').all()).toEqual([]);
    c.decide({ ok: false, reason: 'test over' });
    expect(await c.signing).toBeInstanceOf(SessionError);
  });

  it('a member refuses a start its coordinator called off while the member was still deciding', async () => {
    const member = coordinator(false);
    const id = `sg-${'7'.repeat(32)}`;
    const start = {
      type: 'start',
      kind: 'sign',
      scheme: 'ecdsa-secp256k1',
      threshold: 2,
      parties: 3,
      participants: PARTICIPANTS,
      members: [1, 2],
      walletId: WALLET,
      message: '09'.repeat(32),
      path: 'm',
    };
    // node-a is deciding on node-b's start when node-b's own gate says no and it calls the session off.
    const handled = member.sessions.deliver(envelope('node-b', id, start));
    await member.deciding;
    await member.sessions.deliver(
      envelope('node-b', id, { type: 'abort', reason: 'coordinator-failed: denied' }),
    );
    member.decide({ ok: true });
    await handled;
    const answer = member.sent.find((s) => s.to === 'node-b' && s.control.type === 'result');
    expect(answer?.control).toMatchObject({
      status: 'aborted',
      reason: 'the coordinator called the session off',
    });
    expect(db.prepare('SELECT id FROM sessions').all()).toEqual([]);
  });

  it('a member refusing while the coordinator decides ends the session before the coordinator releases anything', async () => {
    const c = coordinator();
    await c.deciding;
    await new Promise((r) => setImmediate(r));
    const id = c.sent.find((s) => s.control.type === 'start')!.session;
    await c.sessions.deliver(
      envelope('node-b', id, {
        type: 'result',
        status: 'aborted',
        reason: 'policy: denied',
        culprits: ['node-b'],
      }),
    );
    c.decide({ ok: true });
    const e = (await c.signing) as SessionError;
    expect(e).toBeInstanceOf(SessionError);
    expect(e.message).toMatch(/node-b/);
    // The party was never built (no share here to load); nothing but the start and the abort left.
    expect(c.sent.filter((s) => s.session === id).map((s) => s.control.type)).toEqual(['start', 'abort']);
  });

  it('a refusal from a node that is not a member of the session does not end it', async () => {
    const c = coordinator();
    await c.deciding;
    await new Promise((r) => setImmediate(r));
    const start = c.sent.find((s) => s.control.type === 'start')!;
    expect(start.to).toBe('node-b'); // node-c is a participant of the wallet, not a member of this session
    await c.sessions.deliver(
      envelope('node-c', start.session, { type: 'result', status: 'aborted', reason: 'forged refusal' }),
    );
    c.decide({ ok: true });
    const e = (await c.signing) as SessionError;
    // The session went on to build the coordinator's party (and failed there: no keystore in this test).
    expect(e.message).not.toMatch(/forged refusal/);
  });

  it('a member refuses a key generation its coordinator called off before the start arrived', async () => {
    const member = coordinator(false);
    const id = `kg-${'8'.repeat(32)}`;
    await member.sessions.deliver(
      envelope('node-b', id, { type: 'abort', reason: 'coordinator-failed: test' }),
    );
    await member.sessions.deliver(envelope('node-b', id, KEYGEN_START));
    await expect.poll(() => member.sent.length).toBe(1);
    expect(member.sent[0]).toMatchObject({
      to: 'node-b',
      session: id,
      control: { type: 'result', status: 'aborted', reason: 'the coordinator called the session off' },
    });
    expect(db.prepare("SELECT status FROM sessions WHERE id = ? AND status = 'running'").all(id)).toEqual([]);
  });
});
