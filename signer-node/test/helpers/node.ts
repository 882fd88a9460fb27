// One signer node in the test's process: a SessionManager (node-a on the given database, with the
// transport the test records or fakes, a silent log and short timeouts; no share is unsealed through it
// unless the test passes a WalletStore with a real keystore) and the wallet row of a 2-of-3 ECDSA key.
import type { Keystore } from '@coffer/hsm';
import { pino } from 'pino';
import { AuditLog } from '../../src/audit/log.ts';
import { SessionManager } from '../../src/sessions/manager.ts';
import type { NodeDatabase } from '../../src/storage/db.ts';
import { WalletStore } from '../../src/store/wallets.ts';
import type { PeerTransport } from '../../src/transport/peers.ts';
import { Metrics } from '../../src/util/metrics.ts';

type ManagerOptions = ConstructorParameters<typeof SessionManager>[0];

export function testManager(
  db: NodeDatabase,
  transport: PeerTransport,
  extra: Partial<ManagerOptions> = {},
): SessionManager {
  return new SessionManager({
    nodeId: 'node-a',
    db,
    audit: new AuditLog(db),
    wallets: new WalletStore(db, {} as Keystore),
    transport,
    metrics: new Metrics(),
    log: pino({ level: 'silent' }),
    roundTimeoutMs: 1_000,
    probeTimeoutMs: 100,
    ...extra,
  });
}

/** The wallet row of a 2-of-3 ECDSA key held by node-a, node-b and node-c, this node being share 1. */
export function insertWallet(
  db: NodeDatabase,
  keyId: string,
  key: { publicKey?: string; chainCode?: string; createdAt?: string } = {},
): void {
  db.prepare(
    `INSERT INTO wallets (key_id, scheme, threshold, parties, public_key, chain_code, label, created_at, participants, share_index)
     VALUES (?, 'ecdsa-secp256k1', 2, 3, ?, ?, NULL, ?, '["node-a","node-b","node-c"]', 1)`,
  ).run(
    keyId,
    key.publicKey ?? `02${'11'.repeat(32)}`,
    key.chainCode ?? '22'.repeat(32),
    key.createdAt ?? new Date().toISOString(),
  );
}

/** The node ids of the 2-of-3 wallet above, in share order. */
export const PARTICIPANTS = ['node-a', 'node-b', 'node-c'];

/** A peer's start of a 2-of-3 Ed25519 key generation among PARTICIPANTS (needs no share at node-a). */
export const KEYGEN_START = {
  type: 'start',
  kind: 'keygen',
  scheme: 'eddsa-ed25519',
  threshold: 2,
  parties: 3,
  participants: PARTICIPANTS,
  members: [1, 2, 3],
};
