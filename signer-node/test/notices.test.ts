// Notices between nodes (requests, approvals, receipts, history) at the session-manager level on a real
// SQLite file: notices sent to one peer in the same tick, or while an earlier envelope to it is on its
// way, leave together in one signed envelope and are handled in the order they were sent; a malformed
// batch is dropped and counted, never thrown at the transport.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type NodeDatabase, openDatabase } from '../src/storage/db.ts';
import type { Envelope } from '../src/transport/envelope.ts';
import type { PeerTransport } from '../src/transport/peers.ts';
import { Metrics } from '../src/util/metrics.ts';
import { testManager } from './helpers/node.ts';

let dir: string;
let db: NodeDatabase;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-notices-'));
  db = openDatabase(join(dir, 'node.sqlite'));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

type Sent = { to: string; payload: unknown };

function manager(sent: Sent[], received: string[], metrics = new Metrics(), gate?: Promise<void>) {
  const transport = {
    send: async (to: string, m: { payload: Uint8Array }) => {
      sent.push({ to, payload: JSON.parse(new TextDecoder().decode(m.payload)) });
      await gate;
    },
  } as unknown as PeerTransport;
  return testManager(db, transport, {
    metrics,
    onNotice: (from, topic, body) => received.push(`${from} ${topic} ${body}`),
  });
}

const envelope = (payload: unknown): Envelope => ({
  kind: 'control',
  id: '00'.repeat(16),
  session: 'nt-test',
  round: 0,
  from: 'node-b',
  to: 'node-a',
  encrypted: false,
  payload: new TextEncoder().encode(JSON.stringify(payload)),
});

describe('notices', () => {
  it('notices sent in one tick leave in one envelope per peer, in order; a lone notice leaves alone', async () => {
    const sent: Sent[] = [];
    const sessions = manager(sent, []);
    await Promise.all([
      sessions.sendNotice('node-b', 'request.submitted', '{"n":1}'),
      sessions.sendNotice('node-c', 'receipt', '{"n":2}'),
      sessions.sendNotice('node-b', 'request.status', '{"n":3}'),
      sessions.sendNotice('node-b', 'receipt', '{"n":4}'),
    ]);
    expect(sent).toEqual([
      {
        to: 'node-b',
        payload: {
          type: 'notices',
          items: [
            { topic: 'request.submitted', body: '{"n":1}' },
            { topic: 'request.status', body: '{"n":3}' },
            { topic: 'receipt', body: '{"n":4}' },
          ],
        },
      },
      { to: 'node-c', payload: { type: 'notice', topic: 'receipt', body: '{"n":2}' } },
    ]);
  });

  it('a notice sent a few ms after another to an idle peer shares its envelope (a receipt, then the statuses)', async () => {
    const sent: Sent[] = [];
    const sessions = manager(sent, []);
    const first = sessions.sendNotice('node-b', 'receipt', '1');
    await new Promise((r) => setTimeout(r, 2));
    await Promise.all([first, sessions.sendNotice('node-b', 'request.status', '2')]);
    expect(sent).toEqual([
      {
        to: 'node-b',
        payload: {
          type: 'notices',
          items: [
            { topic: 'receipt', body: '1' },
            { topic: 'request.status', body: '2' },
          ],
        },
      },
    ]);
  });

  it('notices queued while an envelope to the peer is on its way follow it together, after it', async () => {
    const sent: Sent[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const sessions = manager(sent, [], new Metrics(), gate);
    const first = sessions.sendNotice('node-b', 'request.submitted', '1');
    await expect.poll(() => sent.length).toBe(1);
    const later = [
      sessions.sendNotice('node-b', 'request.status', '2'),
      sessions.sendNotice('node-b', 'receipt', '3'),
    ];
    await new Promise((r) => setTimeout(r, 20));
    expect(sent).toHaveLength(1); // the second envelope waits for the first
    release();
    await Promise.all([first, ...later]);
    expect(sent.map((s) => s.payload)).toEqual([
      { type: 'notice', topic: 'request.submitted', body: '1' },
      {
        type: 'notices',
        items: [
          { topic: 'request.status', body: '2' },
          { topic: 'receipt', body: '3' },
        ],
      },
    ]);
  });

  it('a received batch is handled notice by notice in order; a malformed batch is dropped and counted', async () => {
    const received: string[] = [];
    const metrics = new Metrics();
    const sessions = manager([], received, metrics);
    await sessions.deliver(
      envelope({
        type: 'notices',
        items: [
          { topic: 'request.submitted', body: 'a' },
          { topic: 'receipt', body: 'b' },
        ],
      }),
    );
    expect(received).toEqual(['node-b request.submitted a', 'node-b receipt b']);
    for (const bad of [
      { type: 'notices', items: [] },
      { type: 'notices', items: [{ topic: 'Bad Topic', body: 'x' }] },
      { type: 'notices', items: [{ topic: 'receipt' }] },
      { type: 'notices', items: 'receipt' },
      // A good notice does not carry a bad one in: the whole batch is dropped.
      {
        type: 'notices',
        items: [
          { topic: 'receipt', body: 'c' },
          { topic: 'receipt', body: 7 },
        ],
      },
      { type: 'notice', topic: 'Bad Topic', body: 'x' },
      { type: 'notice', topic: 'receipt' },
    ])
      await sessions.deliver(envelope(bad));
    expect(received).toHaveLength(2);
    expect(metrics.get('coffer_session_messages_dropped_total', { reason: 'malformed-control' })).toBe(7);
    await sessions.deliver(envelope({ type: 'notice', topic: 'receipt', body: 'd' }));
    expect(received).toEqual(['node-b request.submitted a', 'node-b receipt b', 'node-b receipt d']);
  });
});
