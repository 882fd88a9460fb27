// Wallets and their sealed shares. A KeyShare's bytes are sealed by the keystore (envelope encryption
// under the KEK, context "share:<keyId>:<index>") before they reach SQLite; the plaintext exists only
// in memory: while a session uses it and, with `shareCacheMs` > 0, until the share has gone unused that
// long (README "Share cache"). The wallet row, the sealed share and the session's completion are
// written in one transaction, so a crash leaves either all three or none.
import type { Keystore } from '@coffer/hsm';
import { KeyShare, type SchemeId } from '@coffer/tss';
import { bytesToHex } from '@noble/hashes/utils.js';
import { durably, type NodeDatabase } from '../storage/db.ts';

export type Wallet = {
  id: string;
  scheme: SchemeId;
  threshold: number;
  parties: number;
  publicKey: string;
  chainCode: string;
  label: string | null;
  lockedReason: string | null;
  participants: string[];
  shareIndex: number;
  createdAt: string;
};

type WalletRow = {
  key_id: string;
  scheme: string;
  threshold: number;
  parties: number;
  public_key: string;
  chain_code: string;
  label: string | null;
  locked_reason: string | null;
  participants: string;
  share_index: number;
  created_at: string;
};

function toWallet(r: WalletRow): Wallet {
  return {
    id: r.key_id,
    scheme: r.scheme as SchemeId,
    threshold: r.threshold,
    parties: r.parties,
    publicKey: r.public_key,
    chainCode: r.chain_code,
    label: r.label,
    lockedReason: r.locked_reason,
    participants: JSON.parse(r.participants) as string[],
    shareIndex: r.share_index,
    createdAt: r.created_at,
  };
}

export function shareContext(keyId: string, index: number): string {
  return `share:${keyId}:${index}`;
}

export class WalletStore {
  /** Unsealed shares by key id, each dropped once unused for `shareCacheMs` (the timer restarts on use). */
  readonly #unsealed = new Map<string, { share: KeyShare; timer: NodeJS.Timeout }>();
  /** Counts forgetShares calls: a share unsealed across one is not kept. */
  #forgets = 0;

  constructor(
    private readonly db: NodeDatabase,
    private readonly keystore: Keystore,
    private readonly options: { shareCacheMs?: number } = {},
  ) {}

  /** Drops the unsealed copy of one wallet's share (all wallets without `keyId`). */
  forgetShares(keyId?: string): void {
    this.#forgets++;
    this.#drop(keyId);
  }

  #drop(keyId?: string): void {
    for (const [id, held] of this.#unsealed)
      if (keyId === undefined || id === keyId) {
        clearTimeout(held.timer);
        this.#unsealed.delete(id);
      }
  }

  /** Wallets whose share is held unsealed right now (metrics, tests). */
  unsealedShares(): string[] {
    return [...this.#unsealed.keys()];
  }

  /** Seals the share's bytes under the KEK (context binds key and index); the plaintext is wiped. */
  private async seal(share: KeyShare, keyId: string): Promise<Uint8Array> {
    const plaintext = share.toBytes();
    try {
      return await this.keystore.seal(plaintext, shareContext(keyId, share.index));
    } finally {
      plaintext.fill(0);
    }
  }

  /** Seals the share, then stores wallet + sealed share and runs `alsoInTransaction` atomically. */
  async saveShare(
    share: KeyShare,
    meta: { participants: string[]; label: string | null },
    alsoInTransaction: () => void,
  ): Promise<Wallet> {
    const keyId = bytesToHex(share.keyId);
    const sealed = await this.seal(share, keyId);
    const now = new Date().toISOString();
    durably(this.db, () =>
      this.db.transaction(() => {
        this.db
          .prepare(
            `INSERT INTO wallets (key_id, scheme, threshold, parties, public_key, chain_code, label, created_at, participants, share_index)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            keyId,
            share.scheme,
            share.threshold,
            share.parties,
            bytesToHex(share.publicKey),
            bytesToHex(share.chainCode),
            meta.label,
            now,
            JSON.stringify(meta.participants),
            share.index,
          );
        this.db
          .prepare('INSERT INTO sealed_shares (key_id, generation, sealed, created_at) VALUES (?, 0, ?, ?)')
          .run(keyId, sealed, now);
        alsoInTransaction();
      })(),
    );
    return this.get(keyId)!;
  }

  /**
   * This node's newest share of the wallet: the unsealed copy when one is held (shareCacheMs), else
   * unsealed from the database now. The caller must not keep it longer than a session.
   */
  async loadShare(keyId: string): Promise<KeyShare> {
    const held = this.#unsealed.get(keyId);
    if (held) {
      held.timer.refresh();
      return held.share;
    }
    const forgets = this.#forgets;
    const share = await this.unsealShare(keyId);
    const ms = this.options.shareCacheMs ?? 0;
    // Not kept when a lock, a re-seal or shutdown dropped shares while this one was being unsealed.
    if (ms > 0 && forgets === this.#forgets && !this.get(keyId)?.lockedReason) {
      this.#drop(keyId);
      const timer = setTimeout(() => this.#unsealed.delete(keyId), ms);
      timer.unref();
      this.#unsealed.set(keyId, { share, timer });
    }
    return share;
  }

  private async unsealShare(keyId: string): Promise<KeyShare> {
    const wallet = this.get(keyId);
    if (!wallet) throw new Error(`no wallet ${keyId}`);
    const row = this.db
      .prepare('SELECT sealed FROM sealed_shares WHERE key_id = ? ORDER BY generation DESC LIMIT 1')
      .get(keyId) as { sealed: Uint8Array } | undefined;
    if (!row) throw new Error(`wallet ${keyId} has no sealed share on this node`);
    const secret = await this.keystore.unseal(
      new Uint8Array(row.sealed),
      shareContext(keyId, wallet.shareIndex),
    );
    const bytes = secret.expose();
    secret.wipe();
    try {
      return KeyShare.fromBytes(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  /**
   * Re-seals `share` in place of this node's newest sealed share of the wallet (same generation, so
   * the superseded blob is gone) and runs `alsoInTransaction` atomically with the replacement.
   * Used after a ban: the stored share must no longer carry the discarded pairwise setup.
   */
  async replaceShare(share: KeyShare, alsoInTransaction: () => void): Promise<void> {
    const keyId = bytesToHex(share.keyId);
    const wallet = this.get(keyId);
    if (!wallet) throw new Error(`no wallet ${keyId}`);
    if (wallet.shareIndex !== share.index) throw new Error(`share index does not match wallet ${keyId}`);
    this.forgetShares(keyId);
    const sealed = await this.seal(share, keyId);
    durably(this.db, () =>
      this.db.transaction(() => {
        const changed = this.db
          .prepare(
            `UPDATE sealed_shares SET sealed = ?, created_at = ?
           WHERE key_id = ? AND generation = (SELECT MAX(generation) FROM sealed_shares WHERE key_id = ?)`,
          )
          .run(sealed, new Date().toISOString(), keyId, keyId).changes;
        if (changed !== 1) throw new Error(`wallet ${keyId} has no sealed share on this node`);
        alsoInTransaction();
      })(),
    );
    // Again: a session may have unsealed the superseded blob while this one was being sealed.
    this.forgetShares(keyId);
  }

  /** Sets the review lock (DESIGN §3 item 6); false when the wallet was already locked. */
  lock(keyId: string, reason: string): boolean {
    this.forgetShares(keyId);
    return durably(
      this.db,
      () =>
        this.db
          .prepare('UPDATE wallets SET locked_reason = ? WHERE key_id = ? AND locked_reason IS NULL')
          .run(reason.slice(0, 500), keyId).changes > 0,
    );
  }

  /** Clears the review lock; false when the wallet was not locked. */
  clearLock(keyId: string): boolean {
    return durably(
      this.db,
      () =>
        this.db
          .prepare('UPDATE wallets SET locked_reason = NULL WHERE key_id = ? AND locked_reason IS NOT NULL')
          .run(keyId).changes > 0,
    );
  }

  /** Peers whose pairwise setup for this wallet was discarded after a failed check. */
  unusablePeers(keyId: string): string[] {
    return (
      this.db
        .prepare('SELECT peer_id FROM unusable_setups WHERE key_id = ? ORDER BY peer_id')
        .all(keyId) as Array<{
        peer_id: string;
      }>
    ).map((r) => r.peer_id);
  }

  get(keyId: string): Wallet | undefined {
    const r = this.db.prepare('SELECT * FROM wallets WHERE key_id = ?').get(keyId) as WalletRow | undefined;
    return r ? toWallet(r) : undefined;
  }

  list(): Wallet[] {
    return (this.db.prepare('SELECT * FROM wallets ORDER BY created_at, key_id').all() as WalletRow[]).map(
      toWallet,
    );
  }
}
