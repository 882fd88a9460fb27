// A SessionManager for tests in one process: node-a on the given database, with the transport the test
// records or fakes, a silent log and short timeouts. No share is unsealed through it unless the test
// passes a WalletStore with a real keystore (`wallets`).
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
