// Protocol envelopes at a session member, at the session-manager level on a real SQLite file with a
// recording transport: a party's round leaves as one envelope per peer (its broadcast messages and the
// ones addressed to that peer), encrypted exactly when it holds a direct message, and a step that ends
// two rounds at once (later messages were waiting in the party) sends one envelope per round; an arriving envelope
// whose messages claim another sender, session or round, a direct message without encryption, or an
// encrypted envelope without one, is dropped and counted and the session goes on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWire, encodeWire, type WireMessage } from '@coffer/tss';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionManager } from '../src/sessions/manager.ts';
import { keygenParty } from '../src/sessions/parties.ts';
import { type NodeDatabase, openDatabase } from '../src/storage/db.ts';
import { decodeProtocolPayload, type Envelope, encodeProtocolPayload } from '../src/transport/envelope.ts';
import type { PeerTransport } from '../src/transport/peers.ts';
import { Metrics } from '../src/util/metrics.ts';
import { KEYGEN_START, PARTICIPANTS, testManager } from './helpers/node.ts';

const SESSION = `kg-${'5'.repeat(32)}`;
let dir: string;
let db: NodeDatabase;
let metrics: Metrics;
let sessions: SessionManager;
type Sent = { to: string; round: number; encrypt: boolean; messages: WireMessage[] };
let sent: Sent[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-protocol-envelopes-'));
  db = openDatabase(join(dir, 'node.sqlite'));
  metrics = new Metrics();
  sent = [];
  const transport = {
    peerIds: () => ['node-b', 'node-c'],
    probe: async () => true,
    recentlyHeard: () => new Set<string>(),
    noteUp: () => {},
    send: async (to: string, m: { kind: string; round: number; payload: Uint8Array; encrypt: boolean }) => {
      if (m.kind !== 'protocol') return;
      const messages = decodeProtocolPayload(m.payload).map((b) => decodeWire(b));
      sent.push({ to, round: m.round, encrypt: m.encrypt, messages });
    },
  } as unknown as PeerTransport;
  // A key generation needs no share.
  sessions = testManager(db, transport, { metrics, roundTimeoutMs: 5_000 });
  // node-b starts a 2-of-3 Ed25519 key generation with node-a (index 1) and node-c.
  await sessions.deliver(
    envelope('control', 0, false, new TextEncoder().encode(JSON.stringify(KEYGEN_START))),
  );
  await expect.poll(() => sent.length).toBeGreaterThan(0);
});

afterEach(async () => {
  await sessions.shutdown();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function envelope(
  kind: Envelope['kind'],
  round: number,
  encrypted: boolean,
  payload: Uint8Array,
  from = 'node-b',
): Envelope {
  return {
    kind,
    id: '00'.repeat(16),
    session: SESSION,
    round,
    from,
    to: 'node-a',
    encrypted,
    payload,
  };
}

function message(over: Partial<WireMessage> = {}): Uint8Array {
  return encodeWire({ session: SESSION, round: 1, from: 2, to: null, payload: Uint8Array.of(7), ...over });
}

const dropped = (reason: string) => metrics.get('coffer_session_messages_dropped_total', { reason }) ?? 0;

const status = () =>
  (db.prepare('SELECT status FROM sessions WHERE id = ?').get(SESSION) as { status: string }).status;

describe('protocol envelopes at a member', () => {
  it("send one envelope per peer per round, each with that peer's messages, encrypted only with a direct one", () => {
    const peers = sent.map((s) => s.to).sort();
    expect(peers).toEqual(['node-b', 'node-c']);
    for (const s of sent) {
      expect(s.round).toBe(1);
      for (const m of s.messages) {
        expect(m.from).toBe(1);
        expect(m.round).toBe(1);
        if (m.to !== null) expect(m.to).toBe(PARTICIPANTS.indexOf(s.to) + 1);
      }
      expect(s.encrypt).toBe(s.messages.some((m) => m.to !== null));
    }
  });

  it('a step that finishes two rounds sends each round in its own envelope, under that round', async () => {
    // node-b and node-c run their parties here; node-a's round-1 messages reach them at once.
    const peers = [2, 3].map((index) =>
      keygenParty({ scheme: 'eddsa-ed25519', session: SESSION, index, threshold: 2, parties: 3 }),
    );
    const fromA = sent.flatMap((s) =>
      s.messages
        .filter((m) => m.to === null || m.to === 1 + PARTICIPANTS.indexOf(s.to))
        .map((m) => ({ ...m, to: m.to, for: s.to })),
    );
    const round1 = peers.map((p) => p.start());
    const round2: WireMessage[][] = [[], []];
    peers.forEach((p, i) => {
      const mine = fromA.filter((m) => m.for === PARTICIPANTS[i + 1]);
      const other = round1[1 - i]!.filter((m) => m.to === null || m.to === i + 2);
      for (const m of [...mine, ...other]) round2[i]!.push(...p.receive(m));
    });
    expect(round2.every((out) => out.length > 0 && out.every((m) => m.round === 2))).toBe(true);
    const toA = (from: number, messages: WireMessage[], round: number) =>
      envelope(
        'protocol',
        round,
        messages.some((m) => m.to !== null),
        encodeProtocolPayload(messages.filter((m) => m.to === null || m.to === 1).map((m) => encodeWire(m))),
        PARTICIPANTS[from - 1]!,
      );
    sent.length = 0;
    // Round 2 of both peers first (the party keeps it), then their round 1: one step ends rounds 1 and 2.
    await sessions.deliver(toA(2, round2[0]!, 2));
    await sessions.deliver(toA(3, round2[1]!, 2));
    await sessions.deliver(toA(2, round1[0]!, 1));
    expect(sent).toEqual([]);
    await sessions.deliver(toA(3, round1[1]!, 1));
    expect(dropped('header-mismatch')).toBe(0);
    const rounds = [...new Set(sent.map((s) => s.round))].sort();
    expect(rounds).toEqual([2, 3]);
    for (const s of sent) for (const m of s.messages) expect(m.round).toBe(s.round);
    expect(status()).toBe('running');
  });

  it('drops, counts and survives a forged sender, an unencrypted direct message and an encrypted broadcast', async () => {
    const before = dropped('header-mismatch');
    await sessions.deliver(envelope('protocol', 1, false, encodeProtocolPayload([message({ from: 3 })])));
    await sessions.deliver(
      envelope('protocol', 1, false, encodeProtocolPayload([message(), message({ to: 1 })])),
    );
    await sessions.deliver(envelope('protocol', 1, true, encodeProtocolPayload([message()])));
    await sessions.deliver(envelope('protocol', 1, true, encodeProtocolPayload([message({ round: 2 })])));
    expect(dropped('header-mismatch')).toBe(before + 4);
    expect(status()).toBe('running');
  });

  it('takes every message of an accepted envelope to the party (a bad one then aborts the session)', async () => {
    // Well-formed headers, encrypted because one message is direct: the party gets them, and the
    // garbage payload ends the session with node-b named.
    await sessions.deliver(
      envelope('protocol', 1, true, encodeProtocolPayload([message(), message({ to: 1 })])),
    );
    await expect.poll(status).toBe('aborted');
    const row = db.prepare('SELECT culprits FROM sessions WHERE id = ?').get(SESSION) as { culprits: string };
    expect(JSON.parse(row.culprits)).toContain('node-b');
  });

  it('an undecodable payload aborts the session naming the sender', async () => {
    await sessions.deliver(envelope('protocol', 1, false, Uint8Array.of(2, 0, 0, 0, 1, 9)));
    await expect.poll(status).toBe('aborted');
  });
});
