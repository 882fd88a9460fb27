// The review lock of a wallet (DESIGN §3 item 6, "Broken Record") at the session-manager level on a
// real SQLite file: a locked wallet is refused for signing (also after the database is reopened),
// only an admin's clearWalletLock lifts it, and both the lock and its clearance are audited. The
// process-level suite (presign.slow.test.ts) makes a member send a bad signature share and checks
// that the coordinator locks the wallet by itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Keystore } from '@coffer/hsm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionError, type SessionManager } from '../src/sessions/manager.ts';
import { type NodeDatabase, openDatabase } from '../src/storage/db.ts';
import { WalletStore } from '../src/store/wallets.ts';
import type { PeerTransport } from '../src/transport/peers.ts';
import { insertWallet, testManager } from './helpers/node.ts';

let dir: string;
let db: NodeDatabase;
const WALLET = 'ab'.repeat(32);

function manager(
  database: NodeDatabase,
  extra: Partial<ConstructorParameters<typeof SessionManager>[0]> = {},
): { sessions: SessionManager; wallets: WalletStore } {
  // No share is sealed or unsealed and no peer is contacted in these cases.
  const wallets = new WalletStore(database, {} as Keystore);
  const sessions = testManager(database, transportTo(false), { wallets, ...extra });
  return { sessions, wallets };
}

/** A transport whose peers answer their probe when `up` and take every envelope (and do nothing with it). */
function transportTo(up: boolean): PeerTransport {
  return {
    probe: async () => up,
    send: async () => {},
    recentlyHeard: () => new Set<string>(),
    noteUp: () => {},
  } as unknown as PeerTransport;
}

function auditKinds(database: NodeDatabase): string[] {
  return (database.prepare('SELECT kind FROM audit_log ORDER BY seq').all() as Array<{ kind: string }>).map(
    (r) => r.kind,
  );
}

async function signError(sessions: SessionManager): Promise<SessionError> {
  const e = await sessions
    .sign({ walletId: WALLET, message: new Uint8Array(32).fill(7), path: 'm', requestId: 'req-1' }, 'test')
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  expect(e).toBeInstanceOf(SessionError);
  return e as SessionError;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-lock-'));
  db = openDatabase(join(dir, 'node.sqlite'));
  insertWallet(db, WALLET);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('wallet review lock', () => {
  it('a locked wallet is refused with wallet-locked, also after the database is reopened', async () => {
    const { wallets, sessions } = manager(db);
    expect(wallets.lock(WALLET, 'signature-check-failed: the combined signature does not verify')).toBe(true);
    expect(wallets.lock(WALLET, 'second reason')).toBe(false); // the first reason is kept
    const e = await signError(sessions);
    expect(e.code).toBe('wallet-locked');
    expect(e.message).toMatch(/combined signature does not verify/);

    db.close();
    db = openDatabase(join(dir, 'node.sqlite'));
    const again = await signError(manager(db).sessions);
    expect(again.code).toBe('wallet-locked');
  });

  it('only clearWalletLock lifts the lock, and the clearance is audited with the reason it clears', async () => {
    const { wallets, sessions } = manager(db);
    wallets.lock(WALLET, 'signature-check-failed in session sg-1');
    expect(sessions.clearWalletLock(WALLET, 'api:security-officer')).toBe(true);
    expect(wallets.get(WALLET)?.lockedReason).toBeNull();
    const row = db
      .prepare("SELECT actor, subject, details FROM audit_log WHERE kind = 'wallet.lock-cleared'")
      .get() as { actor: string; subject: string; details: string };
    expect(row.actor).toBe('api:security-officer');
    expect(row.subject).toBe(WALLET);
    expect(JSON.parse(row.details)).toEqual({ lockedReason: 'signature-check-failed in session sg-1' });
    // Clearing an unlocked wallet changes nothing and writes nothing.
    const before = auditKinds(db).length;
    expect(sessions.clearWalletLock(WALLET, 'api:security-officer')).toBe(false);
    expect(auditKinds(db)).toHaveLength(before);
    // Once cleared, signing gets past the lock (and fails later for lack of reachable peers).
    const e = await signError(sessions);
    expect(e.code).not.toBe('wallet-locked');
  });

  it('clearWalletLock names the field for an unknown wallet', () => {
    const { sessions } = manager(db);
    expect(() => sessions.clearWalletLock('cd'.repeat(32), 'api:ops')).toThrow(
      expect.objectContaining({ code: 'not-found', details: { field: 'walletId' } }),
    );
  });

  it('a lock set while a signing waits (probe, policy gate) stops it before the share is used', async () => {
    // Peers answer their health probe; the policy gate takes its time, and meanwhile a concurrent
    // session's failed final check locks the wallet.
    let store: WalletStore | undefined;
    const { sessions, wallets } = manager(db, {
      transport: transportTo(true),
      authorizeSign: async () => {
        store?.lock(WALLET, 'signature-check-failed in a concurrent session');
        return { ok: true };
      },
    });
    store = wallets;
    const e = await signError(sessions);
    expect(e.code).toBe('wallet-locked');
    expect(db.prepare("SELECT id FROM sessions WHERE kind = 'sign'").all()).toHaveLength(0);
  });
});
