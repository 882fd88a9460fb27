// Drives @coffer/tss parties over the peer transport. One node (the one that received the API call)
// coordinates a session: it picks the members, sends each a signed "start" control envelope, and waits
// for every member's "result". Every member runs its own party, checks that each protocol message's
// party index is the index of the authenticated sender, and records the session in SQLite.
//
// Crash safety (DESIGN §3 item 7, §4): before a signing party's messages leave the node, one SQLite
// transaction inserts the (session, party, round) nonce use into consumed_nonces and advances the
// session's round; a second release for the same key fails on the primary key, so no nonce-dependent
// message can be produced twice. A session id is accepted only once (a start for a known id is refused).
// On restart every session still "running" is marked aborted (nonces lived only in memory and are gone).
//
// Wallet lock (DESIGN §3 item 6): a signing party that aborts with `signature-check-failed`, or a member
// reporting a signature that does not verify under the derived key, locks the wallet for review; the
// node never retries and refuses every signing of it until an admin clears the lock.
// Bans (item 5): a DKLs23 check that bans a peer also discards the pairwise setups with it in every
// ECDSA wallet, persistently (unusable_setups + re-sealed shares), and aborts every session with it.
// Presignatures (item 7): see presign-pool.ts.
import {
  decodeWire,
  encodeWire,
  type KeyShare,
  markPairwiseSetupUnusable,
  type Party,
  type Presignature,
  ProtocolAbort,
  type SchemeId,
  type WireMessage,
} from '@coffer/tss';
import { derivePublicKey } from '@coffer/tss/simulator';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/log.ts';
import { durably, type NodeDatabase } from '../storage/db.ts';
import type { Wallet, WalletStore } from '../store/wallets.ts';
import { decodeProtocolPayload, type Envelope, encodeProtocolPayload } from '../transport/envelope.ts';
import type { PeerTransport } from '../transport/peers.ts';
import type { Metrics } from '../util/metrics.ts';
import {
  finishPresignedParty,
  keygenParty,
  messageLengthOk,
  presignParty,
  SCHEME_IDS,
  signParty,
} from './parties.ts';
import { type HeldPresignature, type PresignConfig, PresignPool } from './presign-pool.ts';
import { signatureVerifies } from './verify.ts';

export class SessionError extends Error {
  override readonly name = 'SessionError';
  constructor(
    readonly code:
      | 'not-enough-signers'
      | 'invalid-request'
      | 'not-found'
      | 'wallet-locked'
      | 'session-aborted'
      | 'session-timeout'
      | 'peer-unreachable'
      | 'policy-denied',
    message: string,
    /**
     * `retryable`: the session failed only because its start could not reach `culprits`, from whom it
     * never received a protocol message (nothing was signed with them).
     */
    readonly details: { culprits?: string[]; field?: string; retryable?: boolean } = {},
  ) {
    super(message);
  }
}

type SessionKind = 'keygen' | 'sign' | 'presign';
type StartControl = {
  type: 'start';
  kind: SessionKind;
  scheme: SchemeId;
  threshold: number;
  parties: number;
  /** Node ids by party index (index = position + 1): all key holders. */
  participants: string[];
  /** Party indices taking part in this run (keygen: all). */
  members: number[];
  walletId?: string;
  message?: string;
  path?: string;
  label?: string | null;
  /**
   * Signing only: the presignature (made by the coordinator's earlier presigning run with exactly
   * these members, for this wallet and path) whose one online round completes this signature.
   */
  presignature?: string;
  /**
   * The request this signature serves, as the coordinator forwards it (opaque JSON, at most
   * MAX_REQUEST_CHARS): every member hands it to its own `authorizeSign` and decides for itself.
   */
  request?: string;
};
type ResultControl = {
  type: 'result';
  status: 'done' | 'aborted';
  output?: string;
  reason?: string;
  culprits?: string[];
};
/** `restarted`: the sender lost the session in a crash and names itself as the cause. */
type AbortControl = { type: 'abort'; reason: string; restarted?: boolean };
/** A one-way message between nodes outside any session (requests, approvals, receipts, history). */
type NoticeControl = { type: 'notice'; topic: string; body: string };
/** Notices to one peer that were queued together, in the order they were sent. */
type NoticesControl = { type: 'notices'; items: Array<{ topic: string; body: string }> };
type Control = StartControl | ResultControl | AbortControl | NoticeControl | NoticesControl;

/** What a coordinated signing learned about its start (runSign decides on a retry with it). */
type SessionProgress = {
  startSent: boolean;
  /** Settles when every start send has succeeded or given up. */
  startsSettled?: Promise<unknown>;
  undelivered: string[];
  heard?: Set<string>;
};

/** `json` is `{"topic":…,"body":…}`, encoded once: the envelope's payload is built from it. */
type QueuedNotice = { json: string; bytes: number; done: (error?: Error) => void };

/** What a node is asked to lend its share to; `authorizeSign` answers for this node alone. */
export type SignAuthorization = {
  sessionId: string;
  walletId: string;
  message: Uint8Array;
  path: string;
  request?: string;
  coordinator: string;
  signers: string[];
};
export type AuthorizationResult = { ok: true } | { ok: false; reason: string };

/** A completed signature as every member sees it (receipts are built from this). */
export type SignedEvent = {
  sessionId: string;
  walletId: string;
  message: string;
  path: string;
  signature: string;
  request?: string;
  coordinator: string;
  signers: string[];
};

type Outcome = { status: 'done'; output: string } | { status: 'aborted'; reason: string; culprits: string[] };

class Running {
  timer: NodeJS.Timeout | undefined;
  stalled = false;
  resultTimer: NodeJS.Timeout | undefined;
  finished = false;
  lastRound = 0;
  readonly results = new Map<string, Outcome>();
  /** Members a protocol message of this session was received from. */
  readonly heard = new Set<string>();
  own: Outcome | undefined;
  /** Coordinator: ends the session here (stops waiting for members' results) and answers the caller. */
  settle: ((o: Outcome) => void) | undefined;
  /** Coordinator: answers the caller; the session stays open for members' results. Later answers are no-ops. */
  answer: ((o: Outcome) => void) | undefined;
  constructor(
    readonly id: string,
    readonly start: StartControl,
    readonly coordinator: string,
    readonly myIndex: number,
    readonly party: AnyParty,
    /** Session id inside the protocol messages: the presigning run's for a presigned signing. */
    readonly wireSession: string,
    /** Derived public key of a signing or presigning session (chain format). */
    readonly derivedKey: Uint8Array | undefined,
  ) {}
  /** Node ids of the other members. */
  others(self: string): string[] {
    return this.start.members.map((i) => this.start.participants[i - 1]!).filter((id) => id !== self);
  }
}

type AnyParty = Party<KeyShare> | Party<Uint8Array> | Party<Presignature>;
type BuiltParty = { party: AnyParty; wireSession: string; derivedKey?: Uint8Array };

const PENDING_TTL_MS = 30_000;
/** Wait before retrying a pool refill that failed (peers down, banned, …). */
const REFILL_RETRY_MS = 5_000;
/** Delay of the first refill after start-up, so the API and peer endpoint are listening. */
const REFILL_FIRST_MS = 1_500;
const MAX_PENDING_SESSIONS = 256;
const MAX_PENDING_PER_SESSION = 512;
const MAX_RUNNING = 64;
/** Answers (results, aborts) kept per session this node is still starting: a few per member. */
const MAX_EARLY_ANSWERS = 16;
/** Sessions one coordinator may call off before this node started them (see calledOff). */
const MAX_CALLED_OFF_PER_PEER = 64;
/** Notice topics that read many rows (see onControl). */
const EXPENSIVE_TOPICS = new Set(['history.query', 'policy.sync']);
/** A peer heard from this recently is taken as up without a health probe (sign() retries once if not). */
const LIVENESS_MS = 2_000;

export type ManagerOptions = {
  nodeId: string;
  db: NodeDatabase;
  audit: AuditLog;
  wallets: WalletStore;
  transport: PeerTransport;
  metrics: Metrics;
  log: Logger;
  roundTimeoutMs: number;
  probeTimeoutMs: number;
  /**
   * Test seam for crash tests only: "keygen:N" or "sign:N" makes this node stop processing a session
   * of that kind right after it has persisted and released its round-N messages, and print one
   * {"event":"stalled"} line, so a test can kill -9 it at exactly that point. Set from the
   * COFFER_TEST_STALL environment variable; never set in production.
   */
  stallAfter?: { kind: SessionKind; round: number };
  /**
   * Test seam for the lock and ban tests only (COFFER_TEST_TAMPER): this node corrupts its own
   * outgoing ECDSA messages — "online" flips a bit of w_i in the last signing round (the combined
   * signature then fails verification at the honest parties), "multiplication" flips a byte of its
   * round-2 direct messages (the §5.1 check fails and the receiver bans this node), "report" makes a
   * member report a corrupted signature to the coordinator. Never set in production.
   */
  tamper?: 'online' | 'multiplication' | 'report';
  /** Presignature pool (DESIGN §3 item 7); absent or poolSize 0: signing always runs 3 rounds. */
  presign?: PresignConfig;
  /**
   * Policy gate (DESIGN §1 step 4): called on the coordinator before it starts a signing session and on
   * every member before it joins one. Anything but `{ ok: true }` (or a throw) refuses the share.
   */
  authorizeSign?: (a: SignAuthorization) => Promise<AuthorizationResult>;
  /** Called on every member once its signing party finished (after the session row is done). */
  onSigned?: (e: SignedEvent) => void;
  /** Called for every authenticated notice from a pinned peer. */
  onNotice?: (from: string, topic: string, body: string) => void;
};

export class SessionManager {
  private readonly running = new Map<string, Running>();
  /** Sessions this node coordinates, until every member's result is in. */
  private readonly coordinated = new Map<string, Running>();
  private readonly pending = new Map<string, { expires: number; items: Envelope[] }>();
  /** Sessions their coordinator aborted before this node started them (coordinator → session → expiry). */
  private readonly calledOff = new Map<string, Map<string, number>>();
  /** Notices waiting for each peer (sendNotice). */
  private readonly noticeQueues = new Map<string, { items: QueuedNotice[]; flushing: boolean }>();
  /** Sessions this node coordinates whose start has left but whose own party is still being built. */
  private readonly building = new Map<string, Envelope[]>();
  private readonly pool: PresignPool;
  /** Presignatures a coordinator took for a session it is about to start, by session id. */
  private readonly claimed = new Map<string, HeldPresignature>();
  private refillTimer: NodeJS.Timeout | undefined;
  private refilling = false;
  private refillAgain = false;
  private closed = false;
  /** Re-seals after bans run one after another, each on the newest sealed share. */
  private resealChain: Promise<void> = Promise.resolve();

  constructor(private readonly o: ManagerOptions) {
    this.pool = new PresignPool(o.db, o.nodeId, o.presign ?? { poolSize: 0, paths: ['m'] });
    o.metrics.counter('coffer_presignatures_total', 'Presignatures on this node, by event');
    o.metrics.gauge(
      'coffer_presignatures_ready',
      'Presignatures this node coordinated and holds unused (all wallets and paths)',
      () => this.pool.readyCount(),
    );
    o.metrics.gauge(
      'coffer_presignatures_held',
      "Presignatures held in memory, this node's and other coordinators'",
      () => this.pool.size,
    );
    o.metrics.gauge(
      'coffer_presignature_pool_target',
      'Presignatures the pool keeps ready: poolSize × paths × unlocked ECDSA wallets',
      () =>
        this.pool.config.poolSize === 0
          ? 0
          : this.pool.config.poolSize * this.pool.config.paths.length * this.refillWallets().length,
    );
    o.metrics.gauge('coffer_presignature_refill_running', '1 while the pool is being refilled', () =>
      this.refilling ? 1 : 0,
    );
    o.metrics.counter('coffer_sessions_total', 'Sessions finished on this node, by kind and status');
    o.metrics.counter(
      'coffer_session_messages_dropped_total',
      'Authenticated envelopes a session refused, by reason',
    );
    o.metrics.gauge('coffer_sessions_running', 'Sessions running on this node', () => this.running.size);
  }

  /** Marks sessions left open by a crash as aborted (their in-memory nonces are gone for good). */
  recoverAfterRestart(): number {
    const open = this.o.db
      .prepare("SELECT id, kind, participants FROM sessions WHERE status = 'running'")
      .all() as Array<{ id: string; kind: string; participants: string }>;
    const reason = 'node restarted while the session was open; its single-use state was discarded';
    for (const s of open) {
      // Tell the other members at once, so they stop waiting for this node instead of timing out.
      const payload = new TextEncoder().encode(JSON.stringify({ type: 'abort', reason, restarted: true }));
      for (const p of parseNodeIds(s.participants))
        if (p !== this.o.nodeId && this.o.transport.peerIds().includes(p))
          this.o.transport
            .send(p, { kind: 'control', session: s.id, round: 0, payload, encrypt: false })
            .catch(() => {});
      this.o.audit.append('session.aborted', this.o.nodeId, s.id, { kind: s.kind, reason, culprits: [] });
      this.o.db
        .prepare(
          "UPDATE sessions SET status = 'aborted', reason = ?, culprits = '[]', updated_at = ? WHERE id = ?",
        )
        .run(reason, now(), s.id);
    }
    this.o.db
      .prepare(
        "UPDATE signing_requests SET status = 'failed', error = ?, updated_at = ? WHERE status = 'pending'",
      )
      .run(reason, now());
    const discarded = this.pool.discardAfterRestart();
    if (discarded > 0)
      this.o.audit.append('presignatures.discarded', this.o.nodeId, this.o.nodeId, {
        count: discarded,
        reason: 'node restarted: presignature secrets are held in memory only',
      });
    this.scheduleRefill(REFILL_FIRST_MS);
    return open.length;
  }

  bannedPeers(): string[] {
    return (
      this.o.db.prepare('SELECT peer_id FROM peer_bans WHERE cleared_at IS NULL').all() as Array<{
        peer_id: string;
      }>
    ).map((r) => r.peer_id);
  }

  /**
   * Clears a ban. A pairwise setup discarded with the ban stays unusable (unusable_setups and the
   * re-sealed share): sessions of that wallet with the peer are refused until the wallet is refreshed.
   */
  clearBan(peer: string, actor: string): boolean {
    const cleared = durably(this.o.db, () => {
      this.o.audit.append('peer.ban-cleared', actor, peer, {});
      return (
        this.o.db
          .prepare('UPDATE peer_bans SET cleared_at = ? WHERE peer_id = ? AND cleared_at IS NULL')
          .run(now(), peer).changes > 0
      );
    });
    if (cleared) this.scheduleRefill(0);
    return cleared;
  }

  /** An admin clears a wallet's review lock after investigating the failed signature check. */
  clearWalletLock(walletId: string, actor: string): boolean {
    const wallet = this.o.wallets.get(walletId);
    if (!wallet) throw new SessionError('not-found', `no wallet ${walletId}`, { field: 'walletId' });
    if (!wallet.lockedReason) return false;
    // Logged first: a lock that cannot be audited is not cleared.
    this.o.audit.append('wallet.lock-cleared', actor, walletId, { lockedReason: wallet.lockedReason });
    const cleared = this.o.wallets.clearLock(walletId);
    if (cleared) this.scheduleRefill(0);
    return cleared;
  }

  /** Locks a wallet for review (DESIGN §3 item 6, "Broken Record"); no signing of it until cleared. */
  private lockWallet(walletId: string, reason: string, sessionId: string): void {
    if (!walletId) return;
    // The lock and its audit entry are fsynced together.
    durably(this.o.db, () => {
      if (!this.o.wallets.lock(walletId, reason)) return;
      this.o.log.error({ wallet: walletId, session: sessionId, reason }, 'wallet locked for review');
      try {
        this.o.audit.append('wallet.locked', this.o.nodeId, walletId, { session: sessionId, reason });
      } catch (e) {
        this.o.log.error({ err: (e as Error).message }, 'audit append failed while locking a wallet');
      }
    });
    this.pool.discard((e) => e.walletId === walletId, 'wallet locked for review');
    // Sessions of the wallet still running release nothing more.
    this.abortOthers(
      (other) => other.id !== sessionId && other.start.walletId === walletId && other.start.kind !== 'keygen',
      'wallet-locked',
      `wallet ${walletId} was locked for review (session ${sessionId})`,
      [],
    );
  }

  /** Aborts every running or coordinated session `which` selects. */
  private abortOthers(
    which: (run: Running) => boolean,
    reason: string,
    message: string,
    culprits: string[],
  ): void {
    for (const other of new Set([...this.running.values(), ...this.coordinated.values()]))
      if (which(other)) this.abort(other, reason, message, culprits);
  }

  /** Peers that cannot sign this wallet with this node: banned, or their pairwise setup discarded. */
  private excludedPeers(walletId: string): { banned: Set<string>; unusable: Set<string> } {
    return { banned: new Set(this.bannedPeers()), unusable: new Set(this.o.wallets.unusablePeers(walletId)) };
  }

  // ---- coordinator side ----

  async keygen(
    req: { scheme: SchemeId; threshold: number; parties: number; nodes?: string[]; label?: string | null },
    actor: string,
  ): Promise<Wallet> {
    const all = [this.o.nodeId, ...this.o.transport.peerIds()];
    const nodes = req.nodes ?? all.slice(0, req.parties);
    if (nodes.length !== req.parties)
      throw new SessionError(
        'invalid-request',
        `parties is ${req.parties} but ${nodes.length} nodes are available or named`,
        {
          field: 'parties',
        },
      );
    if (new Set(nodes).size !== nodes.length)
      throw new SessionError('invalid-request', 'a node is named twice', { field: 'nodes' });
    for (const n of nodes)
      if (!all.includes(n))
        throw new SessionError('invalid-request', `unknown node "${n}"`, { field: 'nodes' });
    if (!nodes.includes(this.o.nodeId))
      throw new SessionError('invalid-request', 'this node must be one of the key holders', {
        field: 'nodes',
      });
    const banned = nodes.filter((n) => this.bannedPeers().includes(n));
    if (banned.length > 0)
      throw new SessionError('invalid-request', `banned peer(s): ${banned.join(', ')}`, { field: 'nodes' });
    const participants = [...nodes].sort();
    const id = `kg-${bytesToHex(randomBytes(16))}`;
    const start: StartControl = {
      type: 'start',
      kind: 'keygen',
      scheme: req.scheme,
      threshold: req.threshold,
      parties: req.parties,
      participants,
      members: participants.map((_, i) => i + 1),
      label: req.label ?? null,
    };
    this.o.audit.append('keygen.requested', actor, id, {
      scheme: req.scheme,
      threshold: req.threshold,
      participants,
    });
    const outcome = await this.coordinate(id, start);
    if (outcome.status !== 'done') throw abortedError(outcome);
    const wallet = this.o.wallets.get(outcome.output);
    if (!wallet) throw new Error(`keygen ${id} finished without a wallet`);
    return wallet;
  }

  /**
   * Signs with t reachable signers (this node first), returns the signature hex. With a presignature
   * ready for (wallet, path) whose signing set is reachable, one online round suffices; otherwise, or
   * when the presigned session fails for a reason that does not lock the wallet, the three-round
   * protocol runs with fresh nonces.
   */
  async sign(
    req: { walletId: string; message: Uint8Array; path: string; requestId: string; request?: string },
    actor: string,
  ): Promise<{ signature: string; signers: string[]; sessionId: string }> {
    const wallet = this.o.wallets.get(req.walletId);
    if (!wallet) throw new SessionError('not-found', `no wallet ${req.walletId}`, { field: 'walletId' });
    if (wallet.lockedReason)
      throw new SessionError('wallet-locked', `wallet is locked for review: ${wallet.lockedReason}`);
    if (!messageLengthOk(wallet.scheme, req.message.length))
      throw new SessionError('invalid-request', `wrong digest length for ${wallet.scheme}`, {
        field: 'digest',
      });
    if (req.request !== undefined && req.request.length > MAX_REQUEST_CHARS)
      throw new SessionError('invalid-request', `request is longer than ${MAX_REQUEST_CHARS} characters`, {
        field: 'request',
      });
    try {
      return await this.signOnce(wallet, req, actor, false);
    } catch (e) {
      // A peer taken as up from recent traffic may have gone down since: probe every peer and try once
      // more (a new session with fresh nonces; the first one never heard from that peer, so it
      // produced no signature).
      if (!(e instanceof SessionError) || e.details.retryable !== true) throw e;
      for (const c of e.details.culprits ?? []) this.o.transport.noteUp(c, false);
      return this.signOnce(wallet, req, actor, true);
    }
  }

  private async signOnce(
    wallet: Wallet,
    req: { walletId: string; message: Uint8Array; path: string; requestId: string; request?: string },
    actor: string,
    probeAll: boolean,
  ): Promise<{ signature: string; signers: string[]; sessionId: string }> {
    const { banned, unusable } = this.excludedPeers(wallet.id);
    const candidates = wallet.participants.filter(
      (p) => p !== this.o.nodeId && !banned.has(p) && !unusable.has(p),
    );
    const reachable = await this.probe(candidates, probeAll);
    if (wallet.scheme === 'ecdsa-secp256k1' && this.pool.config.poolSize > 0) {
      const entry = this.pool.take(wallet.id, req.path, (signers) =>
        signers.every((s) => s === this.o.nodeId || reachable.includes(s)),
      );
      // The pool is topped up once this signing is over: a presigning run now would take the cores
      // from the one online round this request is waiting for.
      if (!entry) this.scheduleRefill(0);
      if (entry) {
        try {
          return await this.runSign(wallet, req, actor, entry.members, entry);
        } catch (e) {
          const code = e instanceof SessionError ? e.code : 'internal';
          if (code === 'policy-denied' || code === 'wallet-locked') throw e;
          this.o.log.warn(
            { wallet: wallet.id, presignature: entry.id, err: (e as Error).message },
            'presigned signing failed; falling back to three rounds',
          );
          this.o.audit.append('sign.presigned-failed', actor, req.requestId, {
            wallet: wallet.id,
            presignature: entry.id,
            error: (e as Error).message,
          });
        } finally {
          this.scheduleRefill(0);
        }
      }
    }
    const need = wallet.threshold - 1;
    if (reachable.length < need) {
      const down = candidates.filter((c) => !reachable.includes(c));
      throw new SessionError(
        'not-enough-signers',
        `not enough signers: wallet needs ${wallet.threshold}, reachable are ${[this.o.nodeId, ...reachable].join(', ')}` +
          (down.length ? `; down: ${down.join(', ')}` : '') +
          (banned.size ? `; banned: ${[...banned].join(', ')}` : '') +
          (unusable.size
            ? `; pairwise setup discarded after a failed check (refresh the wallet): ${[...unusable].join(', ')}`
            : ''),
      );
    }
    const chosen = [this.o.nodeId, ...reachable.slice(0, need)];
    const members = chosen.map((n) => wallet.participants.indexOf(n) + 1).sort((a, b) => a - b);
    return this.runSign(wallet, req, actor, members);
  }

  /** One signing session (presigned when `entry` is given) with the policy gate on this node. */
  private async runSign(
    wallet: Wallet,
    req: { message: Uint8Array; path: string; requestId: string; request?: string },
    actor: string,
    members: number[],
    entry?: HeldPresignature,
  ): Promise<{ signature: string; signers: string[]; sessionId: string }> {
    const id = `sg-${bytesToHex(randomBytes(16))}`;
    const start: StartControl = {
      type: 'start',
      kind: 'sign',
      scheme: wallet.scheme,
      threshold: wallet.threshold,
      parties: wallet.parties,
      participants: wallet.participants,
      members,
      walletId: wallet.id,
      message: bytesToHex(req.message),
      path: req.path,
      ...(entry ? { presignature: entry.id } : {}),
      ...(req.request !== undefined ? { request: req.request } : {}),
    };
    const chosen = members.map((i) => wallet.participants[i - 1]!);
    // This node's own policy decision runs while the members take theirs (the start has left): each
    // decides alone, and this node builds its party only once its own answer is yes.
    const authorized = async () => {
      const verdict = await this.authorize(id, start, this.o.nodeId);
      if (!verdict.ok)
        throw new SessionError('policy-denied', `this node refuses to sign: ${verdict.reason}`);
      this.o.db
        .prepare('UPDATE signing_requests SET signers = ?, updated_at = ? WHERE id = ?')
        .run(JSON.stringify([...chosen].sort()), now(), req.requestId);
      this.o.audit.append('sign.session', actor, id, {
        request: req.requestId,
        wallet: wallet.id,
        signers: chosen,
        ...(entry ? { presignature: entry.id } : {}),
      });
      if (entry) this.claimed.set(id, entry);
    };
    let outcome: Outcome;
    const progress: SessionProgress = { startSent: false, undelivered: [] };
    try {
      outcome = await this.coordinate(id, start, req.requestId, authorized, progress);
    } catch (e) {
      // The session did not run. A presignature goes back only if its start never left: once it has,
      // a member may have used its half (this node's gate decides after the start), so it is retired.
      const locked = e instanceof SessionError && e.code === 'wallet-locked';
      if (entry && (entry.presignature.consumed || progress.startSent || locked))
        this.pool.discardRow(entry.id, `session ${id} did not run: ${(e as Error).message}`);
      else if (entry) this.pool.restore(entry);
      throw e;
    } finally {
      this.claimed.delete(id);
    }
    if (outcome.status !== 'done') {
      const locked = this.o.wallets.get(wallet.id)?.lockedReason;
      if (locked) throw new SessionError('wallet-locked', `wallet is locked for review: ${locked}`);
      // Did the session fail because its start could not reach a member? (The start's retries may
      // still be running when another message to the same member has already failed.)
      await progress.startsSettled;
      const silent = progress.undelivered.filter((p) => !progress.heard?.has(p));
      if (silent.length > 0 && silent.length === progress.undelivered.length)
        throw new SessionError(
          'peer-unreachable',
          `session failed: the start did not reach ${silent.join(', ')}`,
          {
            culprits: silent,
            retryable: true,
          },
        );
      throw abortedError(outcome);
    }
    return { signature: outcome.output, signers: chosen, sessionId: id };
  }

  /** Coordinator: one presigning run for (wallet, path) with t reachable signers, this node first. */
  private async presign(wallet: Wallet, path: string): Promise<void> {
    const { banned, unusable } = this.excludedPeers(wallet.id);
    const candidates = wallet.participants.filter(
      (p) => p !== this.o.nodeId && !banned.has(p) && !unusable.has(p),
    );
    const reachable = await this.probe(candidates);
    const need = wallet.threshold - 1;
    if (reachable.length < need)
      throw new SessionError(
        'not-enough-signers',
        `presigning for ${wallet.id} needs ${wallet.threshold} signers, reachable are ${[this.o.nodeId, ...reachable].join(', ')}`,
      );
    const chosen = [this.o.nodeId, ...reachable.slice(0, need)];
    const id = `ps-${bytesToHex(randomBytes(16))}`;
    const start: StartControl = {
      type: 'start',
      kind: 'presign',
      scheme: wallet.scheme,
      threshold: wallet.threshold,
      parties: wallet.parties,
      participants: wallet.participants,
      members: chosen.map((n) => wallet.participants.indexOf(n) + 1).sort((a, b) => a - b),
      walletId: wallet.id,
      path,
    };
    this.o.audit.append('presign.session', this.o.nodeId, id, { wallet: wallet.id, path, signers: chosen });
    const outcome = await this.coordinate(id, start);
    if (outcome.status !== 'done') {
      this.pool.discard((e) => e.sessionId === id, `presigning failed: ${outcome.reason}`);
      throw abortedError(outcome);
    }
  }

  private refillWallets(): Wallet[] {
    return this.o.wallets.list().filter((w) => w.scheme === 'ecdsa-secp256k1' && !w.lockedReason);
  }

  /** Background refill of the pool, one presigning run at a time; retried later when it fails. */
  private scheduleRefill(delayMs: number): void {
    if (this.pool.config.poolSize === 0 || this.closed) return;
    if (this.refilling) {
      this.refillAgain = true;
      return;
    }
    if (this.refillTimer) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      void this.refill();
    }, delayMs);
    this.refillTimer.unref();
  }

  private async refill(): Promise<void> {
    if (this.refilling || this.closed) return;
    this.refilling = true;
    this.refillAgain = false;
    let failed = false;
    try {
      for (const w of this.refillWallets())
        for (const path of this.pool.config.paths) {
          try {
            while (
              !this.closed &&
              this.pool.readyCount(w.id, path) < this.pool.config.poolSize &&
              !this.o.wallets.get(w.id)?.lockedReason
            )
              await this.presign(w, path);
          } catch (e) {
            failed = true;
            this.o.log.warn(
              { wallet: w.id, path, err: (e as Error).message },
              'presignature pool refill failed; retrying later',
            );
          }
        }
    } finally {
      this.refilling = false;
    }
    if (this.refillAgain) this.scheduleRefill(0);
    else if (failed) this.scheduleRefill(REFILL_RETRY_MS);
  }

  /** Asks this node's policy gate; no gate configured means the node signs what its API accepted. */
  private async authorize(
    sessionId: string,
    start: StartControl,
    coordinator: string,
  ): Promise<AuthorizationResult> {
    if (!this.o.authorizeSign) return { ok: true };
    try {
      return await this.o.authorizeSign({
        sessionId,
        walletId: start.walletId ?? '',
        message: hexToBytes(start.message ?? ''),
        path: start.path ?? 'm',
        ...(start.request !== undefined ? { request: start.request } : {}),
        coordinator,
        signers: start.members.map((i) => start.participants[i - 1]!),
      });
    } catch (err) {
      return { ok: false, reason: `policy check failed: ${(err as Error).message}` };
    }
  }

  /**
   * Sends a notice to one pinned peer (signed envelope, not encrypted; bodies are public data). Notices
   * to a peer are delivered in the order they were sent; those queued while an earlier envelope to the
   * peer is on its way, or within NOTICE_COALESCE_MS of the first, leave together in one envelope (a
   * signer's receipt and the request's statuses, sent a peer's result hop apart, share one). Resolves
   * once delivered.
   */
  sendNotice(peer: string, topic: string, body: string): Promise<void> {
    const json = JSON.stringify({ topic, body });
    const bytes = Buffer.byteLength(json);
    if (bytes + NOTICES_OVERHEAD > MAX_CONTROL_BYTES)
      return Promise.reject(new Error(`notice ${topic} is too large`));
    let queue = this.noticeQueues.get(peer);
    if (!queue) {
      queue = { items: [], flushing: false };
      this.noticeQueues.set(peer, queue);
    }
    if (queue.items.length >= MAX_QUEUED_NOTICES)
      return Promise.reject(new Error(`notice queue to ${peer} is full (${MAX_QUEUED_NOTICES})`));
    const q = queue;
    return new Promise<void>((resolve, reject) => {
      q.items.push({ json, bytes, done: (error) => (error ? reject(error) : resolve()) });
      if (!q.flushing) {
        q.flushing = true;
        setTimeout(() => void this.flushNotices(peer, q), NOTICE_COALESCE_MS);
      }
    });
  }

  private async flushNotices(
    peer: string,
    queue: { items: QueuedNotice[]; flushing: boolean },
  ): Promise<void> {
    while (queue.items.length > 0) {
      const batch: QueuedNotice[] = [];
      let size = NOTICES_OVERHEAD;
      while (
        queue.items.length > 0 &&
        (batch.length === 0 || size + queue.items[0]!.bytes + 1 <= MAX_CONTROL_BYTES)
      ) {
        const next = queue.items.shift()!;
        size += next.bytes + 1;
        batch.push(next);
      }
      // {"type":"notice","topic":…,"body":…} or {"type":"notices","items":[…]} from the encoded items.
      const control =
        batch.length === 1
          ? `{"type":"notice",${batch[0]!.json.slice(1)}`
          : `{"type":"notices","items":[${batch.map((n) => n.json).join(',')}]}`;
      try {
        await this.o.transport.send(peer, {
          kind: 'control',
          session: `nt-${bytesToHex(randomBytes(16))}`,
          round: 0,
          payload: new TextEncoder().encode(control),
          encrypt: false,
        });
        for (const n of batch) n.done();
      } catch (e) {
        for (const n of batch) n.done(e as Error);
      }
    }
    queue.flushing = false;
  }

  /**
   * The peers among `peers` that are up: those heard from within LIVENESS_MS (they took or sent an
   * envelope; no extra round trip), the others (all with `all`) asked GET /healthz.
   */
  private async probe(peers: string[], all = false): Promise<string[]> {
    const heard = all ? new Set<string>() : this.o.transport.recentlyHeard(peers, LIVENESS_MS);
    const ask = peers.filter((p) => !heard.has(p));
    const ok = await Promise.all(ask.map((p) => this.o.transport.probe(p, this.o.probeTimeoutMs)));
    const up = new Set(ask.filter((_, i) => ok[i]));
    return peers.filter((p) => heard.has(p) || up.has(p));
  }

  /**
   * Runs a session this node coordinates. `beforeParty` (the policy gate of a signing) runs after the
   * start has left and before this node builds its party; if it throws, the members are told to abort.
   */
  private async coordinate(
    id: string,
    start: StartControl,
    requestId?: string,
    beforeParty?: () => Promise<void>,
    progress?: SessionProgress,
  ): Promise<Outcome> {
    if (this.running.size >= MAX_RUNNING)
      throw new SessionError('peer-unreachable', 'too many sessions running; retry later');
    const myIndex = start.participants.indexOf(this.o.nodeId) + 1;
    const members = start.members.map((i) => start.participants[i - 1]!).filter((p) => p !== this.o.nodeId);
    // The start leaves first, so that members check it and build their parties while this node takes
    // its own decision (beforeParty) and builds its party; their first messages wait in `pending` until
    // this node registers the session.
    let run: Running | undefined;
    let unreachable: { peer: string; message: string } | undefined;
    // Checked before the start leaves (after the probe and the policy gate, a concurrent session may have
    // locked the wallet) and again when the share is loaded.
    if (start.kind !== 'keygen') this.assertUnlocked(start.walletId ?? '');
    const early: Envelope[] = [];
    this.building.set(id, early);
    const payload = new TextEncoder().encode(JSON.stringify(start));
    if (progress) progress.startSent = true;
    const starts = members.map((peer) =>
      this.o.transport
        .send(peer, { kind: 'control', session: id, round: 0, payload, encrypt: false })
        .catch((e) => {
          const message = (e as Error).message;
          progress?.undelivered.push(peer);
          if (run) this.abort(run, 'peer-unreachable', message, [peer]);
          else unreachable ??= { peer, message };
        }),
    );
    if (progress) progress.startsSettled = Promise.all(starts);
    try {
      await beforeParty?.();
      // One turn of the event loop, so that the start is on the wire before the party is built (that
      // keeps this thread busy); its delivery is not waited for (a refusal or failure arrives anyway).
      await new Promise((resolve) => setImmediate(resolve));
      // A member that refused meanwhile (its own gate, a ban, a lock) ends the session here, before
      // this node loads its share or releases anything.
      const refused = earlyRefusal(early, members);
      if (refused)
        throw new SessionError('session-aborted', `session failed: ${refused.from}: ${refused.reason}`, {
          culprits: refused.culprits,
        });
      run = this.register(
        id,
        start,
        this.o.nodeId,
        myIndex,
        await this.makeParty(id, start, myIndex),
        requestId,
      );
    } catch (e) {
      this.building.delete(id);
      // Members may already run the session: tell them it is off.
      const off = new TextEncoder().encode(
        JSON.stringify({ type: 'abort', reason: `coordinator-failed: ${(e as Error).message}` }),
      );
      for (const peer of members)
        this.o.transport
          .send(peer, { kind: 'control', session: id, round: 0, payload: off, encrypt: false })
          .catch(() => {});
      throw e;
    }
    this.coordinated.set(id, run);
    const registered = run;
    if (progress) progress.heard = run.heard;
    const done = new Promise<Outcome>((resolve) => {
      registered.answer = resolve;
      registered.settle = (o) => {
        this.coordinated.delete(id);
        if (registered.resultTimer) clearTimeout(registered.resultTimer);
        resolve(o);
      };
    });
    this.building.delete(id);
    // A member that already refused (or an undeliverable start) ends the session before this node
    // releases anything.
    for (const e of early) await this.onControl(e);
    if (unreachable) this.abort(run, 'peer-unreachable', unreachable.message, [unreachable.peer]);
    if (!run.finished) this.begin(run);
    return done;
  }

  private assertUnlocked(walletId: string): void {
    const locked = this.o.wallets.get(walletId)?.lockedReason;
    if (locked) throw new SessionError('wallet-locked', `wallet is locked for review: ${locked}`);
  }

  private async makeParty(id: string, start: StartControl, myIndex: number): Promise<BuiltParty> {
    if (start.kind === 'keygen')
      return {
        party: keygenParty({
          scheme: start.scheme,
          session: id,
          index: myIndex,
          threshold: start.threshold,
          parties: start.parties,
        }),
        wireSession: id,
      };
    const path = start.path ?? 'm';
    // The lock is checked again here, after every await that preceded the party (probe, policy gate):
    // a concurrent session may have locked the wallet in between (DESIGN §3 item 6).
    this.assertUnlocked(start.walletId ?? '');
    if (start.presignature !== undefined) {
      // The entry was taken from the pool (coordinator: in sign(); member: in onStart) for this id.
      const entry = this.claimed.get(id);
      this.claimed.delete(id);
      if (!entry || entry.id !== start.presignature)
        throw new Error(`presignature ${start.presignature} was not taken for session ${id}`);
      return {
        party: finishPresignedParty({
          presignature: entry.presignature,
          message: hexToBytes(start.message ?? ''),
          path,
        }),
        wireSession: entry.sessionId,
        derivedKey: entry.derivedKey,
      };
    }
    const share = await this.o.wallets.loadShare(start.walletId ?? '');
    this.assertUnlocked(start.walletId ?? '');
    const derivedKey = derivePublicKey(share, path);
    if (start.kind === 'presign')
      return {
        party: presignParty({ session: id, share, signers: start.members, path }),
        wireSession: id,
        derivedKey,
      };
    return {
      party: signParty({
        session: id,
        share,
        signers: start.members,
        message: hexToBytes(start.message ?? ''),
        path,
      }),
      wireSession: id,
      derivedKey,
    };
  }

  // ---- every member ----

  private register(
    id: string,
    start: StartControl,
    coordinator: string,
    myIndex: number,
    built: BuiltParty,
    requestId?: string,
  ): Running {
    const run = new Running(
      id,
      start,
      coordinator,
      myIndex,
      built.party,
      built.wireSession,
      built.derivedKey,
    );
    // A session id is used once, ever: the primary key refuses a second start.
    this.o.db
      .prepare(
        `INSERT INTO sessions (id, kind, request_id, participants, status, round, created_at, updated_at, scheme, key_id, coordinator, presignature_id)
         VALUES (?, ?, ?, ?, 'running', 0, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        start.kind,
        requestId ?? null,
        JSON.stringify(start.members.map((i) => start.participants[i - 1])),
        now(),
        now(),
        start.scheme,
        start.walletId ?? null,
        coordinator,
        start.presignature ?? null,
      );
    this.running.set(id, run);
    return run;
  }

  private begin(run: Running): void {
    this.step(run, () => run.party.start());
    const queued = this.pending.get(run.id);
    this.pending.delete(run.id);
    for (const e of queued?.items ?? []) this.onProtocol(e);
  }

  /** Entry point for every accepted envelope. */
  async deliver(e: Envelope): Promise<void> {
    if (e.kind === 'control') return this.onControl(e);
    this.onProtocol(e);
  }

  private async onControl(e: Envelope): Promise<void> {
    let c: Control;
    try {
      c = parseControl(e.payload);
    } catch (err) {
      this.dropped('malformed-control', `${e.from}: ${(err as Error).message}`);
      return;
    }
    if (c.type === 'notice' || c.type === 'notices') {
      // Queries that read many rows give the event loop back before each further one: a batch must
      // not hold this node up longer than the same notices sent one by one.
      let heavy = false;
      for (const n of c.type === 'notice' ? [c] : c.items) {
        if (EXPENSIVE_TOPICS.has(n.topic)) {
          if (heavy) await new Promise((resolve) => setImmediate(resolve));
          heavy = true;
        }
        try {
          this.o.onNotice?.(e.from, n.topic, n.body);
        } catch (err) {
          this.o.log.warn({ from: e.from, topic: n.topic, err: (err as Error).message }, 'notice refused');
        }
      }
      return;
    }
    const run = this.running.get(e.session) ?? this.coordinated.get(e.session);
    if (c.type === 'start') return this.onStart(e, c);
    if (!run) {
      // A member's answer (a refusal, say) to a start this node sent before its own party was built.
      const early = this.building.get(e.session);
      if (early) {
        if (early.length < MAX_EARLY_ANSWERS) early.push(e);
      }
      // A coordinator calling off a session this node is still deciding on (onStart checks this).
      else if (c.type === 'abort') {
        const t = Date.now();
        const mine = this.calledOff.get(e.from) ?? new Map<string, number>();
        for (const [k, until] of mine) if (until < t) mine.delete(k);
        if (mine.size < MAX_CALLED_OFF_PER_PEER) mine.set(e.session, t + PENDING_TTL_MS);
        this.calledOff.set(e.from, mine);
      }
      return;
    }
    if (!run.others(this.o.nodeId).includes(e.from)) {
      this.dropped('not-a-member', e.from);
      return;
    }
    if (c.type === 'abort') {
      this.abort(run, 'peer-aborted', `${e.from} aborted: ${c.reason}`, c.restarted ? [e.from] : [], false);
      return;
    }
    if (run.coordinator !== this.o.nodeId) {
      this.dropped('result-to-non-coordinator', e.from);
      return;
    }
    run.results.set(
      e.from,
      c.status === 'done'
        ? { status: 'done', output: c.output ?? '' }
        : { status: 'aborted', reason: c.reason ?? 'aborted', culprits: c.culprits ?? [] },
    );
    // A member that refused or aborted will send nothing more: stop our own party now rather than
    // at the round timeout, and keep the member's reason.
    if (c.status === 'aborted' && !run.finished)
      this.abort(run, 'peer-aborted', `${e.from}: ${c.reason ?? 'aborted'}`, c.culprits ?? [e.from]);
    this.maybeSettle(run);
  }

  private async onStart(e: Envelope, c: StartControl): Promise<void> {
    const refuse = (reason: string) => {
      this.o.log.warn({ session: e.session, from: e.from, reason }, 'session start refused');
      this.dropped('start-refused', reason);
      const payload = new TextEncoder().encode(
        JSON.stringify({ type: 'result', status: 'aborted', reason, culprits: [this.o.nodeId] }),
      );
      this.o.transport
        .send(e.from, { kind: 'control', session: e.session, round: 0, payload, encrypt: false })
        .catch(() => {});
    };
    const myIndex = c.participants.indexOf(this.o.nodeId) + 1;
    if (myIndex === 0 || !c.members.includes(myIndex)) return refuse('this node is not a member');
    if (!c.participants.includes(e.from) || !c.members.includes(c.participants.indexOf(e.from) + 1))
      return refuse('coordinator is not a member');
    const known = this.o.transport.peerIds();
    for (const p of c.participants)
      if (p !== this.o.nodeId && !known.includes(p)) return refuse(`participant ${p} is not a pinned peer`);
    const banned = this.bannedPeers().filter((b) => c.members.some((i) => c.participants[i - 1] === b));
    if (banned.length) return refuse(`banned peer(s) in the session: ${banned.join(', ')}`);
    // Also the ids of sessions this node is starting itself (their start has left, their row not yet
    // written): a member must not be able to start one of them back at this node.
    if (
      this.running.has(e.session) ||
      this.building.has(e.session) ||
      this.coordinated.has(e.session) ||
      this.o.db.prepare('SELECT 1 FROM sessions WHERE id = ?').get(e.session)
    )
      return refuse('session id already used on this node');
    try {
      if (c.kind === 'keygen') {
        this.o.audit.append('keygen.joined', e.from, e.session, {
          scheme: c.scheme,
          threshold: c.threshold,
          participants: c.participants,
        });
        this.beginUnlessCalledOff(e, c, myIndex, await this.makeParty(e.session, c, myIndex));
        return;
      }
      const wallet = c.walletId ? this.o.wallets.get(c.walletId) : undefined;
      if (!wallet) return refuse(`no wallet ${c.walletId}`);
      if (wallet.lockedReason) return refuse('wallet is locked for review');
      if (
        wallet.shareIndex !== myIndex ||
        wallet.scheme !== c.scheme ||
        JSON.stringify(wallet.participants) !== JSON.stringify(c.participants)
      )
        return refuse("participants do not match this node's wallet record");
      // Refused before the share is unsealed: a discarded pairwise setup is never used again.
      const unusable = this.o.wallets
        .unusablePeers(wallet.id)
        .filter((p) => c.members.some((i) => c.participants[i - 1] === p));
      if (unusable.length)
        return refuse(
          `pairwise setup with ${unusable.join(', ')} was discarded after a failed check; the wallet needs a refresh`,
        );
      const signers = c.members.map((i) => c.participants[i - 1]);
      if (c.kind === 'presign') {
        if (wallet.scheme !== 'ecdsa-secp256k1')
          return refuse('presignatures exist for ecdsa-secp256k1 only');
        this.o.audit.append('presign.joined', e.from, e.session, {
          wallet: wallet.id,
          path: c.path,
          signers,
        });
        this.beginUnlessCalledOff(e, c, myIndex, await this.makeParty(e.session, c, myIndex));
        return;
      }
      const message = hexToBytes(c.message ?? '');
      if (!messageLengthOk(wallet.scheme, message.length)) return refuse('wrong message length');
      if (c.presignature !== undefined && wallet.scheme !== 'ecdsa-secp256k1')
        return refuse('presignatures exist for ecdsa-secp256k1 only');
      const verdict = await this.authorize(e.session, c, e.from);
      if (!verdict.ok) return refuse(`policy: ${verdict.reason}`);
      // The coordinator may have called the session off while this node decided (its own gate said no).
      if (this.calledOffNow(e.from, e.session)) return refuse('the coordinator called the session off');
      if (c.presignature !== undefined) {
        // The coordinator names the presignature; this node must hold it unused, bound to exactly
        // this wallet, path, signing set and coordinator. It leaves the pool here, for good.
        const entry = this.pool.takeNamed(c.presignature, {
          walletId: wallet.id,
          path: c.path ?? 'm',
          members: c.members,
          coordinator: e.from,
        });
        if (typeof entry === 'string') return refuse(entry);
        this.claimed.set(e.session, entry);
      }
      this.o.audit.append('sign.joined', e.from, e.session, {
        wallet: wallet.id,
        message: c.message,
        path: c.path,
        signers,
        ...(c.presignature !== undefined ? { presignature: c.presignature } : {}),
      });
      try {
        this.beginUnlessCalledOff(e, c, myIndex, await this.makeParty(e.session, c, myIndex));
      } finally {
        this.claimed.delete(e.session);
      }
    } catch (err) {
      if (c.presignature !== undefined)
        this.pool.discardRow(c.presignature, `session ${e.session} could not start`);
      refuse(err instanceof Error ? err.message : 'cannot start');
    }
  }

  /**
   * A member starts its party unless the coordinator called the session off while the party was being
   * built (building awaits the share); the caller's refusal path answers the coordinator.
   */
  private beginUnlessCalledOff(e: Envelope, c: StartControl, myIndex: number, built: BuiltParty): void {
    if (this.calledOffNow(e.from, e.session)) throw new Error('the coordinator called the session off');
    this.begin(this.register(e.session, c, e.from, myIndex, built));
  }

  private onProtocol(e: Envelope): void {
    const run = this.running.get(e.session);
    if (!run) {
      // Round-1 messages can overtake the start control; keep a bounded number for a while.
      const t = Date.now();
      for (const [k, v] of this.pending) if (v.expires < t) this.pending.delete(k);
      let p = this.pending.get(e.session);
      if (!p) {
        if (
          this.pending.size >= MAX_PENDING_SESSIONS ||
          this.o.db.prepare('SELECT 1 FROM sessions WHERE id = ?').get(e.session)
        ) {
          this.dropped('unknown-session', e.session);
          return;
        }
        p = { expires: t + PENDING_TTL_MS, items: [] };
        this.pending.set(e.session, p);
      }
      if (p.items.length >= MAX_PENDING_PER_SESSION) {
        this.dropped('pending-full', e.session);
        return;
      }
      p.items.push(e);
      return;
    }
    if (run.finished || run.stalled) return;
    const senderIndex = run.start.participants.indexOf(e.from) + 1;
    if (senderIndex === 0 || !run.start.members.includes(senderIndex)) {
      this.dropped('not-a-member', e.from);
      return;
    }
    let messages: WireMessage[];
    try {
      messages = decodeProtocolPayload(e.payload).map((bytes) => decodeWire(bytes));
    } catch {
      this.abort(run, 'malformed-message', `undecodable protocol message from ${e.from}`, [e.from]);
      return;
    }
    for (const msg of messages) {
      // The party index inside the message must be the authenticated sender's (tss README, item 1).
      if (msg.from !== senderIndex || msg.session !== run.wireSession || msg.round !== e.round) {
        this.dropped('header-mismatch', `${e.from} sent a message claiming party ${msg.from}`);
        return;
      }
    }
    // A direct message only in an encrypted envelope; an encrypted one carries at least one.
    if (e.encrypted !== messages.some((m) => m.to !== null)) {
      this.dropped('header-mismatch', `${e.from}: encryption flag`);
      return;
    }
    run.heard.add(e.from);
    for (const msg of messages) {
      if (run.finished || run.stalled) return;
      this.step(run, () => run.party.receive(msg));
    }
  }

  private step(run: Running, fn: () => WireMessage[]): void {
    if (run.finished) return;
    let out: WireMessage[];
    try {
      out = fn();
    } catch (e) {
      if (e instanceof ProtocolAbort) {
        const names = (idx: number[]) => idx.map((i) => run.start.participants[i - 1] ?? `#${i}`);
        // DESIGN §3 item 6: the final signature did not verify under the (derived) key. Lock, never retry.
        if (e.reason === 'signature-check-failed' && run.start.kind === 'sign')
          this.lockWallet(run.start.walletId ?? '', `${e.message} (session ${run.id})`, run.id);
        this.ban(run, names(e.banned), e.reason);
        this.abort(run, e.reason, e.message, names(e.culprits));
      } else this.abort(run, 'internal-error', (e as Error).message, []);
      return;
    }
    if (out.length > 0) this.release(run, out);
    if (run.party.round !== run.lastRound) {
      run.lastRound = run.party.round;
      this.armTimer(run);
    }
    if (run.party.done) void this.complete(run);
  }

  /** True (once) when `coordinator` called `session` off before this node started it. */
  private calledOffNow(coordinator: string, session: string): boolean {
    return this.calledOff.get(coordinator)?.delete(session) ?? false;
  }

  /** Persist-before-release: the nonce use is recorded with the round advance, then messages leave. */
  private release(run: Running, out: WireMessage[]): void {
    // A step can finish more than one round (a peer's later messages were waiting in the party).
    const rounds = [...new Set(out.map((m) => m.round))];
    const round = Math.max(...rounds);
    try {
      this.o.db.transaction(() => {
        const consumed = this.o.db.prepare(
          'INSERT INTO consumed_nonces (id, kind, session_id, consumed_at) VALUES (?, ?, ?, ?)',
        );
        if (run.start.presignature !== undefined) {
          // The online share depends on the presignature: consumed here, or the message is withheld.
          this.pool.consumeInTransaction(run.start.presignature, run.id);
          consumed.run(`presignature/${run.start.presignature}`, 'ecdsa-presignature', run.id, now());
        } else if (run.start.kind === 'sign' || run.start.kind === 'presign')
          for (const r of rounds)
            consumed.run(`${run.id}/${run.myIndex}/${r}`, `${run.start.scheme}-nonce`, run.id, now());
        this.o.db
          .prepare('UPDATE sessions SET round = ?, updated_at = ? WHERE id = ?')
          .run(round, now(), run.id);
      })();
    } catch (e) {
      this.abort(
        run,
        'internal-error',
        `cannot record single-use state, message withheld: ${(e as Error).message}`,
        [],
      );
      return;
    }
    if (run.start.presignature !== undefined)
      this.o.metrics.inc('coffer_presignatures_total', { event: 'consumed' });
    // One envelope per peer and round: the party's broadcast and direct messages for that peer (in
    // order), encrypted when it holds a direct one.
    const peers = run.others(this.o.nodeId);
    const batches = new Map<
      string,
      { to: string; round: number; messages: Uint8Array[]; encrypt: boolean }
    >();
    for (const m of out) {
      const encoded = encodeWire(this.o.tamper ? { ...m, payload: this.tampered(run, m) } : m);
      for (const to of m.to === null ? peers : [run.start.participants[m.to - 1]!]) {
        const key = `${to}/${m.round}`;
        let batch = batches.get(key);
        if (!batch) {
          batch = { to, round: m.round, messages: [], encrypt: false };
          batches.set(key, batch);
        }
        batch.messages.push(encoded);
        if (m.to !== null) batch.encrypt = true;
      }
    }
    for (const b of batches.values())
      this.o.transport
        .send(b.to, {
          kind: 'protocol',
          session: run.id,
          round: b.round,
          payload: encodeProtocolPayload(b.messages),
          encrypt: b.encrypt,
        })
        .catch((e) => this.abort(run, 'peer-unreachable', (e as Error).message, [b.to]));
    const stall = this.o.stallAfter;
    if (stall && stall.kind === run.start.kind && rounds.includes(stall.round)) {
      run.stalled = true;
      process.stdout.write(`${JSON.stringify({ event: 'stalled', session: run.id, round: stall.round })}\n`);
    }
  }

  /** See ManagerOptions.tamper (tests only). */
  private tampered(run: Running, m: WireMessage): Uint8Array {
    if (run.start.scheme !== 'ecdsa-secp256k1' || run.start.kind === 'keygen') return m.payload;
    const presigned = run.start.presignature !== undefined;
    const p = Uint8Array.from(m.payload);
    if (
      this.o.tamper === 'online' &&
      run.start.kind === 'sign' &&
      m.to === null &&
      m.round === (presigned ? 1 : 3)
    )
      p[p.length - 1]! ^= 1; // lowest bit of w_i
    else if (this.o.tamper === 'multiplication' && !presigned && m.round === 2 && m.to !== null) p[40]! ^= 1; // τ
    return p;
  }

  private armTimer(run: Running): void {
    if (run.timer) clearTimeout(run.timer);
    run.timer = setTimeout(() => {
      const waiting = run.party.waitingFor().map((i) => run.start.participants[i - 1]!);
      this.abort(
        run,
        'timeout',
        `round ${run.party.round} timed out waiting for ${waiting.join(', ') || 'nobody'}`,
        waiting,
      );
    }, this.o.roundTimeoutMs);
    run.timer.unref();
  }

  private async complete(run: Running): Promise<void> {
    if (run.finished) return;
    run.finished = true;
    if (run.timer) clearTimeout(run.timer);
    let output: string;
    let signed: SignedEvent | undefined;
    try {
      if (run.start.kind === 'keygen') {
        const share = (run.party as Party<KeyShare>).result();
        const keyId = bytesToHex(share.keyId);
        await this.o.wallets.saveShare(
          share,
          { participants: run.start.participants, label: run.start.label ?? null },
          () => {
            this.finishRow(run.id, 'done', null, [], keyId);
          },
        );
        output = keyId;
        this.o.audit.append('keygen.completed', this.o.nodeId, run.id, {
          wallet: keyId,
          scheme: share.scheme,
          publicKey: bytesToHex(share.publicKey),
        });
        if (share.scheme === 'ecdsa-secp256k1') this.scheduleRefill(0);
      } else if (run.start.kind === 'presign') {
        const p = (run.party as Party<Presignature>).result();
        const path = run.start.path ?? 'm';
        if (p.keyId !== run.start.walletId || p.path !== path || !run.derivedKey)
          throw new Error('the presignature is bound to another wallet or path');
        this.pool.add(
          {
            id: p.id,
            sessionId: run.id,
            walletId: p.keyId,
            path,
            members: run.start.members,
            signers: run.start.members.map((i) => run.start.participants[i - 1]!),
            coordinator: run.coordinator,
            derivedKey: run.derivedKey,
            presignature: p,
            heldSinceMs: Date.now(),
          },
          () => this.finishRow(run.id, 'done', null, []),
        );
        // A wallet locked while this run was open keeps no new presignature.
        if (this.o.wallets.get(p.keyId)?.lockedReason)
          this.pool.discard((e) => e.walletId === p.keyId, 'wallet locked for review');
        output = p.id;
        this.o.metrics.inc('coffer_presignatures_total', { event: 'created' });
        this.o.audit.append('presign.completed', this.o.nodeId, run.id, {
          wallet: p.keyId,
          path,
          presignature: p.id,
        });
      } else {
        output = bytesToHex((run.party as Party<Uint8Array>).result());
        this.finishRow(run.id, 'done', null, []);
        this.o.audit.append('sign.completed', this.o.nodeId, run.id, {
          wallet: run.start.walletId,
          signature: output,
        });
        signed = {
          sessionId: run.id,
          walletId: run.start.walletId ?? '',
          message: run.start.message ?? '',
          path: run.start.path ?? 'm',
          signature: output,
          ...(run.start.request !== undefined ? { request: run.start.request } : {}),
          coordinator: run.coordinator,
          signers: run.start.members.map((i) => run.start.participants[i - 1]!),
        };
      }
    } catch (e) {
      run.finished = false;
      this.abort(run, 'internal-error', `cannot store the result: ${(e as Error).message}`, []);
      return;
    }
    this.o.metrics.inc('coffer_sessions_total', { kind: run.start.kind, status: 'done' });
    this.running.delete(run.id);
    run.own = { status: 'done', output };
    this.report(run, { type: 'result', status: 'done', output });
    // The receipt follows the result: the coordinator is waiting for the result, and until the receipt
    // is stored this node's authorization of the request already counts against its limits.
    if (signed)
      try {
        this.o.onSigned?.(signed);
      } catch (err) {
        this.o.log.error({ session: run.id, err: (err as Error).message }, 'onSigned hook failed');
      }
    this.maybeSettle(run);
  }

  private abort(run: Running, reason: string, message: string, culprits: string[], tellOthers = true): void {
    if (run.finished) return;
    run.finished = true;
    if (run.timer) clearTimeout(run.timer);
    this.running.delete(run.id);
    const status = reason === 'timeout' ? 'timed-out' : 'aborted';
    this.o.log.warn({ session: run.id, reason, culprits, detail: message }, 'session aborted');
    try {
      this.o.audit.append('session.aborted', this.o.nodeId, run.id, {
        kind: run.start.kind,
        reason,
        message,
        culprits,
      });
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, 'audit append failed while recording an abort');
    }
    this.finishRow(run.id, status, `${reason}: ${message}`, culprits);
    // A presignature whose online share was never released is gone from memory: retire its row.
    if (run.start.presignature !== undefined)
      this.pool.discardRow(run.start.presignature, `session ${run.id} ended before its release: ${reason}`);
    this.o.metrics.inc('coffer_sessions_total', { kind: run.start.kind, status });
    run.own = { status: 'aborted', reason: `${reason}: ${message}`, culprits };
    if (tellOthers) {
      const payload = new TextEncoder().encode(
        JSON.stringify({ type: 'abort', reason: `${reason}: ${message}` }),
      );
      for (const p of run.others(this.o.nodeId))
        if (p !== run.coordinator)
          this.o.transport
            .send(p, { kind: 'control', session: run.id, round: 0, payload, encrypt: false })
            .catch(() => {});
    }
    this.report(run, { type: 'result', status: 'aborted', reason: `${reason}: ${message}`, culprits });
    this.maybeSettle(run);
  }

  /**
   * DESIGN §3 item 5: ban the peer, discard the pairwise setup with it in every ECDSA wallet
   * (persistently: unusable_setups now, the re-sealed share right after), drop every presignature
   * made with it and abort every other session it takes part in.
   */
  private ban(run: Running, peers: string[], reason: string): void {
    for (const p of peers) {
      if (p === this.o.nodeId) continue;
      const why = `${reason} in session ${run.id}`;
      durably(this.o.db, () => {
        this.o.db
          .prepare(
            'INSERT OR REPLACE INTO peer_bans (peer_id, reason, banned_at, cleared_at) VALUES (?, ?, ?, NULL)',
          )
          .run(p, why, now());
        this.o.audit.append('peer.banned', this.o.nodeId, p, { session: run.id, reason });
      });
      // Every ECDSA share this node holds with the peer: a selective-failure attacker probes the
      // setups of all its wallets, and a tampered session that happened to succeed leaked a bit too.
      for (const w of this.o.wallets.list())
        if (w.scheme === 'ecdsa-secp256k1' && w.participants.includes(p)) this.discardSetup(w.id, p, why);
      this.pool.discard((e) => e.signers.includes(p), `peer ${p} banned`);
      this.abortOthers(
        (other) => other !== run && other.others(this.o.nodeId).includes(p),
        'peer-banned',
        `${p} was banned (${why})`,
        [p],
      );
    }
  }

  private discardSetup(walletId: string, peer: string, reason: string): void {
    const wallet = this.o.wallets.get(walletId);
    const peerIndex = wallet ? wallet.participants.indexOf(peer) + 1 : 0;
    if (!wallet || peerIndex === 0) return;
    durably(this.o.db, () => {
      this.o.db
        .prepare(
          'INSERT OR IGNORE INTO unusable_setups (key_id, peer_id, reason, marked_at) VALUES (?, ?, ?, ?)',
        )
        .run(walletId, peer, reason, now());
      this.o.audit.append('wallet.setup-discarded', this.o.nodeId, walletId, { peer, reason });
    });
    // The stored share must not carry the setup either (a restored or copied database row aside).
    this.resealChain = this.resealChain.then(async () => {
      try {
        const share = await this.o.wallets.loadShare(walletId);
        await this.o.wallets.replaceShare(markPairwiseSetupUnusable(share, peerIndex), () => {});
      } catch (e) {
        this.o.log.error(
          { wallet: walletId, peer, err: (e as Error).message },
          'cannot re-seal the share without the discarded setup; unusable_setups still refuses it',
        );
      }
    });
  }

  /** Resolves once every re-seal after a ban has been written (tests and shutdown). */
  async settled(): Promise<void> {
    await this.resealChain;
  }

  private finishRow(
    id: string,
    status: string,
    reason: string | null,
    culprits: string[],
    keyId?: string,
  ): void {
    this.o.db
      .prepare(
        'UPDATE sessions SET status = ?, reason = ?, culprits = ?, key_id = COALESCE(?, key_id), updated_at = ? WHERE id = ?',
      )
      .run(status, reason, JSON.stringify(culprits), keyId ?? null, now(), id);
  }

  private report(run: Running, r: ResultControl): void {
    if (run.coordinator === this.o.nodeId) return;
    if (this.o.tamper === 'report' && run.start.kind === 'sign' && r.output) {
      const i = r.output.length >> 1; // a digit of s (ECDSA, BIP340) or S (Ed25519)
      r = {
        ...r,
        output:
          r.output.slice(0, i) + (Number.parseInt(r.output[i]!, 16) ^ 1).toString(16) + r.output.slice(i + 1),
      };
    }
    const payload = new TextEncoder().encode(JSON.stringify(r));
    this.o.transport
      .send(run.coordinator, { kind: 'control', session: run.id, round: 0, payload, encrypt: false })
      .catch(() => {});
  }

  private maybeSettle(run: Running): void {
    if (!run.settle || !run.own) return;
    if (run.own.status === 'aborted') {
      settleOnce(run, run.own);
      return;
    }
    // A signature is answered as soon as this node's own party has produced and verified it (DESIGN
    // §3 item 6): the members' results are checked as they arrive, and one that does not verify still
    // locks the wallet, but the caller does not wait a member's hop for them. A key generation or a
    // presigning run ends only once every member reported (each must hold its part).
    if (run.start.kind === 'sign') run.answer?.(run.own);
    const aborted = [...run.results.entries()].find(([, r]) => r.status === 'aborted');
    if (aborted) {
      const [peer, r] = aborted as [string, Extract<Outcome, { status: 'aborted' }>];
      this.failAfterOwnResult(run, `${peer}: ${r.reason}`, r.culprits);
      return;
    }
    const others = run.others(this.o.nodeId);
    const missing = others.filter((p) => !run.results.has(p));
    if (missing.length) {
      if (!run.resultTimer) {
        run.resultTimer = setTimeout(
          () =>
            settleOnce(run, {
              status: 'aborted',
              reason: `timeout: no result from ${missing.join(', ')}`,
              culprits: missing,
            }),
          this.o.roundTimeoutMs,
        );
        run.resultTimer.unref();
      }
      return;
    }
    const ownOutput = run.own.output;
    if (run.start.kind === 'sign' && run.derivedKey) {
      // DESIGN §3 item 6: a member reporting a signature that does not verify locks the wallet. A report
      // byte-identical to this node's own signature needs no second check: the party verified that one
      // (and its recovery id) before it finished.
      const message = hexToBytes(run.start.message ?? '');
      const key = run.derivedKey;
      const bad = others.filter((p) => {
        const out = (run.results.get(p) as { output?: string }).output ?? '';
        if (out === ownOutput) return false;
        return !(out.length % 2 === 0 && signatureVerifies(run.start.scheme, key, message, hexToBytes(out)));
      });
      if (bad.length) {
        const reason = `signature-check-failed: ${bad.join(', ')} reported a signature that does not verify`;
        this.lockWallet(run.start.walletId ?? '', `${reason} (session ${run.id})`, run.id);
        this.failAfterOwnResult(run, reason, bad);
        return;
      }
    }
    const disagree = others.filter((p) => (run.results.get(p) as { output?: string }).output !== ownOutput);
    if (disagree.length) {
      this.failAfterOwnResult(run, 'members reported different results', disagree);
      return;
    }
    settleOnce(run, run.own);
  }

  /**
   * The coordinator's own party finished, but a member's result fails the session: the session row and
   * the audit log say so (after this node's sign.completed entry), and the caller gets the reason.
   */
  private failAfterOwnResult(run: Running, reason: string, culprits: string[]): void {
    this.finishRow(run.id, 'aborted', reason, culprits);
    try {
      this.o.audit.append('session.aborted', this.o.nodeId, run.id, {
        kind: run.start.kind,
        reason,
        culprits,
        afterOwnResult: true,
      });
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, 'audit append failed while recording an abort');
    }
    settleOnce(run, { status: 'aborted', reason, culprits });
  }

  private dropped(reason: string, detail: string): void {
    this.o.metrics.inc('coffer_session_messages_dropped_total', { reason });
    this.o.log.debug({ reason, detail }, 'session message dropped');
  }

  /** Late results still count after the coordinator's own party has finished. */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    for (const run of [...this.running.values()]) this.abort(run, 'internal-error', 'node shutting down', []);
    // A share re-sealed after a ban must reach the database before the keystore closes.
    await this.resealChain;
  }
}

/** The first refusal or abort among a session's early answers, if any. */
function earlyRefusal(
  early: Envelope[],
  members: string[],
): { from: string; reason: string; culprits: string[] } | undefined {
  for (const e of early) {
    if (!members.includes(e.from)) continue;
    let c: Control;
    try {
      c = parseControl(e.payload);
    } catch {
      continue;
    }
    if (c.type === 'abort') return { from: e.from, reason: c.reason, culprits: [e.from] };
    if (c.type === 'result' && c.status === 'aborted')
      return {
        from: e.from,
        reason: c.reason ?? 'aborted',
        culprits: c.culprits?.length ? c.culprits : [e.from],
      };
  }
  return undefined;
}

function settleOnce(run: Running, o: Outcome): void {
  const s = run.settle;
  run.settle = undefined;
  s?.(o);
}

function abortedError(o: Extract<Outcome, { status: 'aborted' }>): SessionError {
  return new SessionError(
    o.reason.includes('timeout') ? 'session-timeout' : 'session-aborted',
    `session failed: ${o.reason}`,
    {
      culprits: o.culprits,
    },
  );
}

function parseNodeIds(json: string): string[] {
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function now(): string {
  return new Date().toISOString();
}

const MAX_CONTROL_BYTES = 256 * 1024;
/** Notices waiting for one peer before sendNotice refuses more. */
const MAX_QUEUED_NOTICES = 256;
/** How long the first notice to an idle peer waits for others to share its envelope. */
const NOTICE_COALESCE_MS = 5;
/** Bytes of `{"type":"notices","items":[]}` around the items of a batch. */
const NOTICES_OVERHEAD = 32;
const MAX_REQUEST_CHARS = 192 * 1024;
const TOPIC = /^[a-z][a-z0-9.-]{0,63}$/;

function parseControl(bytes: Uint8Array): Control {
  if (bytes.length > MAX_CONTROL_BYTES) throw new Error('control message too large');
  const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  if (typeof v !== 'object' || v === null) throw new Error('control: not an object');
  const o = v as Record<string, unknown>;
  const isStr = (x: unknown): x is string => typeof x === 'string';
  const isInt = (x: unknown, lo: number, hi: number) =>
    typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
  if (o.type === 'abort') {
    if (!isStr(o.reason)) throw new Error('control.reason');
    return {
      type: 'abort',
      reason: o.reason.slice(0, 500),
      ...(o.restarted === true ? { restarted: true } : {}),
    };
  }
  // One notice ({topic, body}), alone or as an item of a batch; `field` names it in the error.
  const noticeOf = (n: unknown, field: string) => {
    const item = (typeof n === 'object' && n !== null ? n : {}) as Record<string, unknown>;
    if (!isStr(item.topic) || !TOPIC.test(item.topic)) throw new Error(`${field}.topic`);
    if (!isStr(item.body)) throw new Error(`${field}.body`);
    return { topic: item.topic, body: item.body };
  };
  if (o.type === 'notice') return { type: 'notice', ...noticeOf(o, 'control') };
  if (o.type === 'notices') {
    if (!Array.isArray(o.items) || o.items.length < 1 || o.items.length > MAX_QUEUED_NOTICES)
      throw new Error(`control.items: 1..${MAX_QUEUED_NOTICES} notices expected`);
    return {
      type: 'notices',
      items: o.items.map((n: unknown, i: number) => noticeOf(n, `control.items[${i}]`)),
    };
  }
  if (o.type === 'result') {
    if (o.status !== 'done' && o.status !== 'aborted') throw new Error('control.status');
    if (o.output !== undefined && !(isStr(o.output) && /^[0-9a-f]{0,256}$/.test(o.output)))
      throw new Error('control.output');
    const culprits = Array.isArray(o.culprits) ? o.culprits.filter(isStr).slice(0, 32) : [];
    return {
      type: 'result',
      status: o.status,
      ...(isStr(o.output) ? { output: o.output } : {}),
      ...(isStr(o.reason) ? { reason: o.reason.slice(0, 500) } : {}),
      culprits,
    };
  }
  if (o.type === 'start') {
    if (o.kind !== 'keygen' && o.kind !== 'sign' && o.kind !== 'presign') throw new Error('control.kind');
    if (!SCHEME_IDS.includes(o.scheme as SchemeId)) throw new Error('control.scheme');
    if (!isInt(o.parties, 2, 16)) throw new Error('control.parties');
    if (!isInt(o.threshold, 2, o.parties as number)) throw new Error('control.threshold');
    if (!Array.isArray(o.participants) || o.participants.length !== o.parties || !o.participants.every(isStr))
      throw new Error('control.participants');
    if (new Set(o.participants).size !== o.participants.length)
      throw new Error('control.participants: duplicate');
    if (!Array.isArray(o.members) || !o.members.every((m) => isInt(m, 1, o.parties as number)))
      throw new Error('control.members');
    if (new Set(o.members).size !== o.members.length || o.members.length < (o.threshold as number))
      throw new Error('control.members');
    if (o.kind === 'keygen' && o.members.length !== o.parties)
      throw new Error('control.members: keygen needs everyone');
    if (
      o.kind === 'sign' &&
      (!isStr(o.walletId) || !isStr(o.message) || !/^([0-9a-f]{2}){1,4096}$/.test(o.message))
    )
      throw new Error('control.message');
    if (
      o.kind === 'presign' &&
      (!isStr(o.walletId) || o.message !== undefined || o.scheme !== 'ecdsa-secp256k1')
    )
      throw new Error('control.walletId: a presigning names a wallet and no message');
    if (
      o.presignature !== undefined &&
      !(o.kind === 'sign' && isStr(o.presignature) && /^[0-9a-f]{16,128}$/.test(o.presignature))
    )
      throw new Error('control.presignature');
    if (o.path !== undefined && !(isStr(o.path) && /^m(\/\d+)*$/.test(o.path) && o.path.length <= 200))
      throw new Error('control.path');
    if (o.request !== undefined && !(isStr(o.request) && o.request.length <= MAX_REQUEST_CHARS))
      throw new Error('control.request');
    if (o.kind !== 'sign' && o.request !== undefined) throw new Error(`control.request: ${o.kind} has none`);
    const label =
      o.label === undefined || o.label === null ? null : isStr(o.label) ? o.label.slice(0, 100) : null;
    return {
      type: 'start',
      kind: o.kind,
      scheme: o.scheme as SchemeId,
      threshold: o.threshold as number,
      parties: o.parties as number,
      participants: o.participants as string[],
      members: [...(o.members as number[])].sort((a, b) => a - b),
      ...(isStr(o.walletId) ? { walletId: o.walletId } : {}),
      ...(isStr(o.message) ? { message: o.message } : {}),
      ...(isStr(o.path) ? { path: o.path } : {}),
      ...(isStr(o.request) ? { request: o.request } : {}),
      ...(isStr(o.presignature) ? { presignature: o.presignature } : {}),
      label,
    };
  }
  throw new Error('control.type');
}
