// The share cache of WalletStore (README "Share cache") on a real SQLite file and a real software
// keystore: with shareCacheMs 0 every session unseals its share from the database; otherwise the
// unsealed share is reused until it has gone unused that long, and a lock, a re-seal (after a ban) or
// shutdown drops it at once. The unseal calls are counted on the keystore the store is given.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSoftwareKeystore, type Keystore } from '@coffer/hsm';
import type { KeyShare } from '@coffer/tss';
import { simulateKeygen } from '@coffer/tss/simulator';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeDatabase, openDatabase } from '../src/storage/db.ts';
import { WalletStore } from '../src/store/wallets.ts';

let dir: string;
let db: NodeDatabase;
let keystore: Keystore;
let share: KeyShare;
let keyId: string;
let unseals = 0;
/** The real keystore, with its unseal calls counted. */
let counting: Keystore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-share-cache-'));
  process.env.COFFER_SHARE_CACHE_TEST_PASSPHRASE = 'share cache test passphrase';
  keystore = await initSoftwareKeystore({
    directory: join(dir, 'keystore'),
    passphrase: { env: 'COFFER_SHARE_CACHE_TEST_PASSPHRASE' },
    argon2id: { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 },
  });
  counting = new Proxy(keystore, {
    get(target, property) {
      if (property === 'unseal')
        return (blob: Uint8Array, context: string) => {
          unseals += 1;
          return target.unseal(blob, context);
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  db = openDatabase(join(dir, 'node.sqlite'));
  share = (await simulateKeygen({ scheme: 'eddsa-ed25519', threshold: 2, parties: 3 }))[0]!;
  keyId = bytesToHex(share.keyId);
  await new WalletStore(db, counting).saveShare(
    share,
    { participants: ['node-a', 'node-b', 'node-c'], label: null },
    () => {},
  );
});

afterAll(async () => {
  db?.close();
  await keystore?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('share cache', () => {
  it('shareCacheMs 0: every load unseals the share from the database', async () => {
    const wallets = new WalletStore(db, counting, { shareCacheMs: 0 });
    unseals = 0;
    const first = await wallets.loadShare(keyId);
    const second = await wallets.loadShare(keyId);
    expect(unseals).toBe(2);
    expect(first).not.toBe(second);
    expect(bytesToHex(second.publicKey)).toBe(bytesToHex(share.publicKey));
    expect(wallets.unsealedShares()).toEqual([]);
  });

  it('reuses the unsealed share while it is in use and drops it once unused for shareCacheMs', async () => {
    const wallets = new WalletStore(db, counting, { shareCacheMs: 300 });
    unseals = 0;
    const first = await wallets.loadShare(keyId);
    expect(await wallets.loadShare(keyId)).toBe(first);
    expect(unseals).toBe(1);
    // Each use restarts the idle time: still held after 2 × 200 ms with a use in between.
    await new Promise((r) => setTimeout(r, 200));
    expect(await wallets.loadShare(keyId)).toBe(first);
    await new Promise((r) => setTimeout(r, 200));
    expect(wallets.unsealedShares()).toEqual([keyId]);
    await expect.poll(() => wallets.unsealedShares(), { timeout: 2_000 }).toEqual([]);
    const again = await wallets.loadShare(keyId);
    expect(again).not.toBe(first);
    expect(unseals).toBe(2);
    wallets.forgetShares();
    expect(wallets.unsealedShares()).toEqual([]);
  });

  it('a review lock and a re-seal each drop the unsealed share at once', async () => {
    const wallets = new WalletStore(db, counting, { shareCacheMs: 60_000 });
    unseals = 0;
    await wallets.loadShare(keyId);
    expect(wallets.unsealedShares()).toEqual([keyId]);
    expect(wallets.lock(keyId, 'test lock')).toBe(true);
    expect(wallets.unsealedShares()).toEqual([]);
    expect(wallets.clearLock(keyId)).toBe(true);
    const loaded = await wallets.loadShare(keyId);
    expect(unseals).toBe(2);
    await wallets.replaceShare(loaded, () => {});
    expect(wallets.unsealedShares()).toEqual([]);
    expect(await wallets.loadShare(keyId)).not.toBe(loaded);
    expect(unseals).toBe(3);
    wallets.forgetShares();
  });

  it('a share being unsealed while shares are dropped (a lock, a re-seal, shutdown) is not kept', async () => {
    const wallets = new WalletStore(db, counting, { shareCacheMs: 60_000 });
    const dropped = wallets.loadShare(keyId);
    wallets.forgetShares();
    await dropped;
    expect(wallets.unsealedShares()).toEqual([]);
    const loading = wallets.loadShare(keyId);
    expect(wallets.lock(keyId, 'locked during the unseal')).toBe(true);
    await loading;
    expect(wallets.unsealedShares()).toEqual([]);
    expect(wallets.clearLock(keyId)).toBe(true);
    await wallets.loadShare(keyId);
    expect(wallets.unsealedShares()).toEqual([keyId]);
    wallets.forgetShares();
  });
});
