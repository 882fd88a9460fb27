// Signer nodes in the test's process, for session checks that need real protocol runs and a network the
// test controls: one SessionManager per node on its own SQLite file and software keystore, each holding
// its real share of a 2-of-3 ECDSA key, linked by an in-process transport that delivers every envelope
// to the addressed node's manager (the envelope signature and encryption layer, tested on its own in
// config.test.ts, is left out). The test can take nodes down, choose whom a node takes as recently
// heard, and hold, alter or drop envelopes in flight.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSoftwareKeystore, type Keystore } from '@coffer/hsm';
import type { KeyShare } from '@coffer/tss';
import { simulateKeygen } from '@coffer/tss/simulator';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import type { SessionManager } from '../../src/sessions/manager.ts';
import { type NodeDatabase, openDatabase } from '../../src/storage/db.ts';
import { WalletStore } from '../../src/store/wallets.ts';
import type { Envelope } from '../../src/transport/envelope.ts';
import type { PeerTransport } from '../../src/transport/peers.ts';
import { Metrics } from '../../src/util/metrics.ts';
import { testManager } from './node.ts';

export const NODE_IDS = ['node-a', 'node-b', 'node-c'] as const;
export type NodeId = (typeof NODE_IDS)[number];
type ManagerOptions = ConstructorParameters<typeof SessionManager>[0];

export type TestNode = { id: NodeId; db: NodeDatabase; metrics: Metrics; sessions: SessionManager };

/** What the network does with an envelope in flight: deliver it (as is or altered), hold it, or drop it. */
export type Verdict = 'deliver' | 'hold' | 'drop' | Envelope;

export type TestNetwork = {
  walletId: string;
  nodes: Map<NodeId, TestNode>;
  /** Every envelope sent, in order, with what became of it. */
  log: Array<{ envelope: Envelope; verdict: 'deliver' | 'hold' | 'drop' | 'altered' }>;
  /** Nodes whose envelopes are refused at the sender (as a dead peer's would be). */
  down: Set<NodeId>;
  /** Decides each envelope's fate (default: deliver). */
  route: (e: Envelope) => Verdict;
  /** The peers `node` takes as up without probing (default: none, so every peer is probed). */
  heard: (node: NodeId, ids: readonly string[]) => Set<string>;
  /** `node`'s health probe of `peer` (default: up when built and not down). */
  probe: (node: NodeId, peer: string) => boolean;
  /** Delivers the held envelopes `which` selects (default: all), in the order they were sent. */
  releaseHeld: (which?: (e: Envelope) => boolean) => void;
  node: (id: NodeId) => TestNode;
  /** A signing request row on every node (sessions name their request), as the request service keeps it. */
  addRequest: (requestId: string, digestHex: string) => void;
  close: () => Promise<void>;
};

/** The shares are generated once per test file (an ECDSA key generation takes seconds). */
let shares: Promise<KeyShare[]> | undefined;

/**
 * node-a, node-b and node-c (the given ones built, the others absent and so unreachable), each with its
 * share of one 2-of-3 ecdsa-secp256k1 key; `options` add to each node's manager options.
 */
export async function testNetwork(
  build: readonly NodeId[],
  options: (id: NodeId) => Partial<ManagerOptions> = () => ({}),
): Promise<TestNetwork> {
  shares ??= simulateKeygen({ scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3 });
  const keyShares = await shares;
  const dir = mkdtempSync(join(tmpdir(), 'coffer-network-'));
  const keystores: Keystore[] = [];
  const held: Envelope[] = [];
  const net: TestNetwork = {
    walletId: bytesToHex(keyShares[0]!.keyId),
    nodes: new Map(),
    log: [],
    down: new Set(),
    route: () => 'deliver',
    heard: () => new Set(),
    probe: (_node, peer) => reachable(peer),
    releaseHeld: (which = () => true) => {
      const now = held.filter(which);
      held.splice(0, held.length, ...held.filter((e) => !which(e)));
      for (const e of now) deliverLater(e);
    },
    node: (id) => {
      const n = net.nodes.get(id);
      if (!n) throw new Error(`${id} is not built in this network`);
      return n;
    },
    addRequest: (requestId, digestHex) => {
      for (const n of net.nodes.values())
        n.db
          .prepare(
            `INSERT INTO signing_requests (id, idempotency_key, key_id, path, digest, status, created_at, updated_at)
             VALUES (?, ?, ?, 'm', ?, 'approved', ?, ?)`,
          )
          .run(
            requestId,
            requestId,
            net.walletId,
            digestHex,
            new Date().toISOString(),
            new Date().toISOString(),
          );
    },
    close: async () => {
      closed = true;
      for (const n of net.nodes.values()) await n.sessions.shutdown();
      for (const n of net.nodes.values()) n.db.close();
      for (const k of keystores) await k.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  let closed = false;
  const deliverLater = (e: Envelope) => {
    const target = net.nodes.get(e.to as NodeId);
    if (!target) return;
    // A node's peer endpoint closes before its manager and database do (main.ts): nothing arrives after.
    setImmediate(() => {
      if (!closed) void target.sessions.deliver(e);
    });
  };
  const reachable = (id: string) => net.nodes.has(id as NodeId) && !net.down.has(id as NodeId);

  for (const id of build) {
    const index = NODE_IDS.indexOf(id);
    const env = `COFFER_NETWORK_TEST_PASSPHRASE_${index}`;
    process.env[env] = `network test passphrase ${index}`;
    const keystore = await initSoftwareKeystore({
      directory: join(dir, id, 'keystore'),
      passphrase: { env },
      argon2id: { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 },
    });
    keystores.push(keystore);
    const db = openDatabase(join(dir, id, 'node.sqlite'));
    const wallets = new WalletStore(db, keystore);
    await wallets.saveShare(keyShares[index]!, { participants: [...NODE_IDS], label: null }, () => {});
    const transport = {
      peerIds: () => NODE_IDS.filter((p) => p !== id),
      probe: async (peer: string) => net.probe(id, peer),
      recentlyHeard: (ids: readonly string[]) => net.heard(id, ids),
      noteUp: () => {},
      send: async (
        to: string,
        m: { kind: Envelope['kind']; session: string; round: number; payload: Uint8Array; encrypt: boolean },
      ) => {
        if (!reachable(to)) throw new Error(`cannot deliver to ${to}: ECONNREFUSED`);
        const envelope: Envelope = {
          kind: m.kind,
          id: bytesToHex(randomBytes(16)),
          session: m.session,
          round: m.round,
          from: id,
          to,
          encrypted: m.encrypt,
          payload: m.payload,
        };
        const verdict = net.route(envelope);
        if (verdict === 'drop' || verdict === 'hold') {
          net.log.push({ envelope, verdict });
          if (verdict === 'hold') held.push(envelope);
          return;
        }
        const out = verdict === 'deliver' ? envelope : verdict;
        net.log.push({ envelope: out, verdict: verdict === 'deliver' ? 'deliver' : 'altered' });
        deliverLater(out);
      },
    } as unknown as PeerTransport;
    const metrics = new Metrics();
    const sessions = testManager(db, transport, {
      nodeId: id,
      wallets,
      metrics,
      roundTimeoutMs: 5_000,
      probeTimeoutMs: 100,
      ...options(id),
    });
    net.nodes.set(id, { id, db, metrics, sessions });
  }
  // As at a node's start (main.ts): open sessions of an earlier run are settled, the pool refill is due.
  for (const n of net.nodes.values()) n.sessions.recoverAfterRestart();
  return net;
}

/** The JSON body of a control envelope. */
export function controlOf(e: Envelope): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(e.payload)) as Record<string, unknown>;
}
