// The node's DKLs23 presignatures (DESIGN §3 item 7). A presignature is the output of the
// message-independent rounds 1–2 of Protocol 3.6, bound to the wallet key, the derivation path and the
// signing set (Groth–Shoup, ePrint 2021/1330). Its secret half exists only in this process's memory:
// `Presignature` cannot be serialised, so nothing secret is ever written, none survives a restart, and
// a restored backup holds only rows that the restart marks discarded. The `presignatures` table keeps
// the public metadata and the single-use record: a row turns from 'ready' to 'consumed' in the same
// transaction that releases the online share (see SessionManager.release), and never turns back.
//
// Only the node that coordinated the presigning run may name a presignature in a signing (the
// members check it), so two coordinators can never race for the same one.
import type { Presignature } from '@coffer/tss';
import type { NodeDatabase } from '../storage/db.ts';

export type PresignConfig = {
  /** Presignatures this node keeps ready per (wallet, path) as coordinator; 0 disables the pool. */
  poolSize: number;
  /** Derivation paths the pool is kept for (default ["m"]). */
  paths: string[];
};

export type HeldPresignature = {
  /** Presignature.id: the presigning run's derived session id, identical at every member. */
  id: string;
  /** The presigning session (its id is also the wire session of the online round). */
  sessionId: string;
  walletId: string;
  path: string;
  /** Party indices of the signing set it is bound to. */
  members: number[];
  /** Node ids of that signing set. */
  signers: string[];
  coordinator: string;
  /** The derived public key (chain format), to verify what members report. */
  derivedKey: Uint8Array;
  presignature: Presignature;
  heldSinceMs: number;
};

/** Bound on presignatures held for other coordinators (they may never name theirs, e.g. after a restart). */
const MAX_HELD = 1024;

export class PresignPool {
  private readonly held = new Map<string, HeldPresignature>();

  constructor(
    private readonly db: NodeDatabase,
    private readonly nodeId: string,
    readonly config: PresignConfig,
  ) {}

  get size(): number {
    return this.held.size;
  }

  /** Presignatures this node coordinated and may use, for (wallet, path) or in total. */
  readyCount(walletId?: string, path?: string): number {
    let n = 0;
    for (const e of this.held.values())
      if (
        e.coordinator === this.nodeId &&
        (walletId === undefined || e.walletId === walletId) &&
        (path === undefined || e.path === path)
      )
        n++;
    return n;
  }

  /**
   * Records a finished presigning run: the row is inserted together with `alsoInTransaction` (the
   * session's completion), then the secret half is kept in memory. Evicts the oldest presignature of
   * another coordinator when the bound is reached.
   */
  add(e: HeldPresignature, alsoInTransaction: () => void): void {
    const now = new Date().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO presignatures (id, session_id, key_id, path, signers, coordinator, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 'ready', ?, ?)`,
        )
        .run(e.id, e.sessionId, e.walletId, e.path, JSON.stringify(e.signers), e.coordinator, now, now);
      alsoInTransaction();
    })();
    if (this.held.size >= MAX_HELD) {
      const oldest = [...this.held.values()]
        .filter((h) => h.coordinator !== this.nodeId)
        .sort((a, b) => a.heldSinceMs - b.heldSinceMs)[0];
      if (oldest) this.discard((h) => h.id === oldest.id, 'evicted: too many presignatures held');
    }
    this.held.set(e.id, e);
  }

  /**
   * Coordinator: removes and returns the oldest presignature it made for (wallet, path) whose signing
   * set passes `usable`. The caller must consume it (or discard it) in the same session.
   */
  take(walletId: string, path: string, usable: (signers: string[]) => boolean): HeldPresignature | undefined {
    const candidates = [...this.held.values()]
      .filter((e) => e.coordinator === this.nodeId && e.walletId === walletId && e.path === path)
      .sort((a, b) => a.heldSinceMs - b.heldSinceMs);
    const chosen = candidates.find((e) => usable(e.signers) && this.rowReady(e.id));
    if (chosen) this.held.delete(chosen.id);
    return chosen;
  }

  /** Puts back a presignature taken but never used (its session did not start). */
  restore(e: HeldPresignature): void {
    if (!e.presignature.consumed && this.rowReady(e.id)) this.held.set(e.id, e);
  }

  /**
   * Member: removes and returns the presignature a coordinator named, if this node holds it unused
   * and it is bound to exactly this wallet, path, signing set and coordinator; otherwise the reason.
   */
  takeNamed(
    id: string,
    expect: { walletId: string; path: string; members: number[]; coordinator: string },
  ): HeldPresignature | string {
    const e = this.held.get(id);
    if (!e || !this.rowReady(id)) return `presignature ${id} is not held unused on this node`;
    if (e.walletId !== expect.walletId) return `presignature ${id} belongs to another wallet`;
    if (e.path !== expect.path) return `presignature ${id} is bound to path ${e.path}, not ${expect.path}`;
    if (e.coordinator !== expect.coordinator) return `presignature ${id} was made by ${e.coordinator}`;
    if (JSON.stringify(e.members) !== JSON.stringify(expect.members))
      return `presignature ${id} is bound to another signing set`;
    this.held.delete(id);
    return e;
  }

  /**
   * Inside the release transaction: marks the presignature consumed by `sessionId`. Throws unless it
   * was 'ready', so a second release for the same presignature can never happen.
   */
  consumeInTransaction(id: string, sessionId: string): void {
    const changed = this.db
      .prepare(
        "UPDATE presignatures SET status = 'consumed', consumed_by = ?, updated_at = ? WHERE id = ? AND status = 'ready'",
      )
      .run(sessionId, new Date().toISOString(), id).changes;
    if (changed !== 1) throw new Error(`presignature ${id} is not ready (already consumed or discarded)`);
  }

  /** Drops matching presignatures from memory and marks their rows discarded (if still ready). */
  discard(match: (e: HeldPresignature) => boolean, reason: string): number {
    const gone = [...this.held.values()].filter(match);
    for (const e of gone) this.held.delete(e.id);
    const stmt = this.db.prepare(
      "UPDATE presignatures SET status = 'discarded', reason = ?, updated_at = ? WHERE id = ? AND status = 'ready'",
    );
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const e of gone) stmt.run(reason, now, e.id);
    })();
    return gone.length;
  }

  /** Marks one row discarded if it was never consumed (a presigned session that failed before release). */
  discardRow(id: string, reason: string): void {
    this.held.delete(id);
    this.db
      .prepare(
        "UPDATE presignatures SET status = 'discarded', reason = ?, updated_at = ? WHERE id = ? AND status = 'ready'",
      )
      .run(reason, new Date().toISOString(), id);
  }

  /** At startup: every 'ready' row lost its secret with the previous process (or came from a backup). */
  discardAfterRestart(): number {
    return this.db
      .prepare(
        "UPDATE presignatures SET status = 'discarded', reason = 'node restarted: presignature secrets are held in memory only', updated_at = ? WHERE status = 'ready'",
      )
      .run(new Date().toISOString()).changes;
  }

  private rowReady(id: string): boolean {
    const r = this.db.prepare('SELECT status FROM presignatures WHERE id = ?').get(id) as
      | { status: string }
      | undefined;
    return r?.status === 'ready';
  }
}
