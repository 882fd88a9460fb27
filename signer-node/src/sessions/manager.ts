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
import {
  decodeWire,
  encodeWire,
  type KeyShare,
  type Party,
  ProtocolAbort,
  type SchemeId,
  type WireMessage,
} from '@coffer/tss';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/log.ts';
import type { NodeDatabase } from '../storage/db.ts';
import type { Wallet, WalletStore } from '../store/wallets.ts';
import type { Envelope } from '../transport/envelope.ts';
import type { PeerTransport } from '../transport/peers.ts';
import type { Metrics } from '../util/metrics.ts';
import { keygenParty, messageLengthOk, SCHEME_IDS, signParty } from './parties.ts';

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
    readonly details: { culprits?: string[]; field?: string } = {},
  ) {
    super(message);
  }
}

type StartControl = {
  type: 'start';
  kind: 'keygen' | 'sign';
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
type AbortControl = { type: 'abort'; reason: string };
/** A one-way message between nodes outside any session (requests, approvals, receipts, history). */
type NoticeControl = { type: 'notice'; topic: string; body: string };
type Control = StartControl | ResultControl | AbortControl | NoticeControl;

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
  own: Outcome | undefined;
  settle: ((o: Outcome) => void) | undefined;
  constructor(
    readonly id: string,
    readonly start: StartControl,
    readonly coordinator: string,
    readonly myIndex: number,
    readonly party: Party<KeyShare> | Party<Uint8Array>,
  ) {}
  /** Node ids of the other members. */
  others(self: string): string[] {
    return this.start.members.map((i) => this.start.participants[i - 1]!).filter((id) => id !== self);
  }
}

const PENDING_TTL_MS = 30_000;
const MAX_PENDING_SESSIONS = 256;
const MAX_PENDING_PER_SESSION = 512;
const MAX_RUNNING = 64;

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
  stallAfter?: { kind: 'keygen' | 'sign'; round: number };
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

  constructor(private readonly o: ManagerOptions) {
    o.metrics.counter('coffer_sessions_total', 'Sessions finished on this node, by kind and status');
    o.metrics.counter(
      'coffer_session_messages_dropped_total',
      'Authenticated envelopes a session refused, by reason',
    );
    o.metrics.gauge('coffer_sessions_running', 'Sessions running on this node', () => this.running.size);
  }

  /** Marks sessions left open by a crash as aborted (their in-memory nonces are gone for good). */
  recoverAfterRestart(): number {
    const open = this.o.db.prepare("SELECT id, kind FROM sessions WHERE status = 'running'").all() as Array<{
      id: string;
      kind: string;
    }>;
    const reason = 'node restarted while the session was open; its single-use state was discarded';
    for (const s of open) {
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
    return open.length;
  }

  bannedPeers(): string[] {
    return (
      this.o.db.prepare('SELECT peer_id FROM peer_bans WHERE cleared_at IS NULL').all() as Array<{
        peer_id: string;
      }>
    ).map((r) => r.peer_id);
  }

  clearBan(peer: string, actor: string): boolean {
    this.o.audit.append('peer.ban-cleared', actor, peer, {});
    return (
      this.o.db
        .prepare('UPDATE peer_bans SET cleared_at = ? WHERE peer_id = ? AND cleared_at IS NULL')
        .run(now(), peer).changes > 0
    );
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

  /** Picks t reachable signers (this node first), runs the signing session, returns the signature hex. */
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
    const banned = new Set(this.bannedPeers());
    const candidates = wallet.participants.filter((p) => p !== this.o.nodeId && !banned.has(p));
    const reachable = await this.probe(candidates);
    const need = wallet.threshold - 1;
    if (reachable.length < need) {
      const down = candidates.filter((c) => !reachable.includes(c));
      throw new SessionError(
        'not-enough-signers',
        `not enough signers: wallet needs ${wallet.threshold}, reachable are ${[this.o.nodeId, ...reachable].join(', ')}` +
          (down.length ? `; down: ${down.join(', ')}` : '') +
          (banned.size ? `; banned: ${[...banned].join(', ')}` : ''),
      );
    }
    const chosen = [this.o.nodeId, ...reachable.slice(0, need)];
    const members = chosen.map((n) => wallet.participants.indexOf(n) + 1).sort((a, b) => a - b);
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
      ...(req.request !== undefined ? { request: req.request } : {}),
    };
    if (req.request !== undefined && req.request.length > MAX_REQUEST_CHARS)
      throw new SessionError('invalid-request', `request is longer than ${MAX_REQUEST_CHARS} characters`, {
        field: 'request',
      });
    const verdict = await this.authorize(id, start, this.o.nodeId);
    if (!verdict.ok) throw new SessionError('policy-denied', `this node refuses to sign: ${verdict.reason}`);
    this.o.db
      .prepare('UPDATE signing_requests SET signers = ?, updated_at = ? WHERE id = ?')
      .run(JSON.stringify(chosen.sort()), now(), req.requestId);
    this.o.audit.append('sign.session', actor, id, {
      request: req.requestId,
      wallet: wallet.id,
      signers: chosen,
    });
    const outcome = await this.coordinate(id, start, req.requestId);
    if (outcome.status !== 'done') throw abortedError(outcome);
    return { signature: outcome.output, signers: chosen, sessionId: id };
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

  /** Sends a notice to one pinned peer (signed envelope, not encrypted; bodies are public data). */
  async sendNotice(peer: string, topic: string, body: string): Promise<void> {
    const payload = new TextEncoder().encode(JSON.stringify({ type: 'notice', topic, body }));
    if (payload.length > MAX_CONTROL_BYTES) throw new Error(`notice ${topic} is too large`);
    await this.o.transport.send(peer, {
      kind: 'control',
      session: `nt-${bytesToHex(randomBytes(16))}`,
      round: 0,
      payload,
      encrypt: false,
    });
  }

  private async probe(peers: string[]): Promise<string[]> {
    const ok = await Promise.all(
      peers.map(async (p) => {
        try {
          const res = await fetch(`${this.o.transport.peerUrl(p)}/healthz`, {
            signal: AbortSignal.timeout(this.o.probeTimeoutMs),
          });
          await res.arrayBuffer();
          return res.ok;
        } catch {
          return false;
        }
      }),
    );
    return peers.filter((_, i) => ok[i]);
  }

  private async coordinate(id: string, start: StartControl, requestId?: string): Promise<Outcome> {
    if (this.running.size >= MAX_RUNNING)
      throw new SessionError('peer-unreachable', 'too many sessions running; retry later');
    const myIndex = start.participants.indexOf(this.o.nodeId) + 1;
    const run = this.register(
      id,
      start,
      this.o.nodeId,
      myIndex,
      await this.makeParty(id, start, myIndex),
      requestId,
    );
    this.coordinated.set(id, run);
    const done = new Promise<Outcome>((resolve) => {
      run.settle = (o) => {
        this.coordinated.delete(id);
        if (run.resultTimer) clearTimeout(run.resultTimer);
        resolve(o);
      };
    });
    const payload = new TextEncoder().encode(JSON.stringify(start));
    for (const peer of run.others(this.o.nodeId))
      this.o.transport
        .send(peer, { kind: 'control', session: id, round: 0, payload, encrypt: false })
        .catch((e) => this.abort(run, 'peer-unreachable', `${(e as Error).message}`, [peer]));
    this.begin(run);
    return done;
  }

  private async makeParty(
    id: string,
    start: StartControl,
    myIndex: number,
  ): Promise<Party<KeyShare> | Party<Uint8Array>> {
    if (start.kind === 'keygen')
      return keygenParty({
        scheme: start.scheme,
        session: id,
        index: myIndex,
        threshold: start.threshold,
        parties: start.parties,
      });
    const share = await this.o.wallets.loadShare(start.walletId ?? '');
    return signParty({
      session: id,
      share,
      signers: start.members,
      message: hexToBytes(start.message ?? ''),
      path: start.path ?? 'm',
    });
  }

  // ---- every member ----

  private register(
    id: string,
    start: StartControl,
    coordinator: string,
    myIndex: number,
    party: Party<KeyShare> | Party<Uint8Array>,
    requestId?: string,
  ): Running {
    const run = new Running(id, start, coordinator, myIndex, party);
    // A session id is used once, ever: the primary key refuses a second start.
    this.o.db
      .prepare(
        `INSERT INTO sessions (id, kind, request_id, participants, status, round, created_at, updated_at, scheme, key_id, coordinator)
         VALUES (?, ?, ?, ?, 'running', 0, ?, ?, ?, ?, ?)`,
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
    if (c.type === 'notice') {
      try {
        this.o.onNotice?.(e.from, c.topic, c.body);
      } catch (err) {
        this.o.log.warn({ from: e.from, topic: c.topic, err: (err as Error).message }, 'notice refused');
      }
      return;
    }
    const run = this.running.get(e.session) ?? this.coordinated.get(e.session);
    if (c.type === 'start') return this.onStart(e, c);
    if (!run) return;
    if (!run.others(this.o.nodeId).includes(e.from)) {
      this.dropped('not-a-member', e.from);
      return;
    }
    if (c.type === 'abort') {
      this.abort(run, 'peer-aborted', `${e.from} aborted: ${c.reason}`, [], false);
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
    if (
      this.running.has(e.session) ||
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
        this.begin(this.register(e.session, c, e.from, myIndex, await this.makeParty(e.session, c, myIndex)));
        return;
      }
      const wallet = c.walletId ? this.o.wallets.get(c.walletId) : undefined;
      if (!wallet) return refuse(`no wallet ${c.walletId}`);
      if (wallet.lockedReason) return refuse('wallet is locked for review');
      if (
        wallet.shareIndex !== myIndex ||
        JSON.stringify(wallet.participants) !== JSON.stringify(c.participants)
      )
        return refuse("participants do not match this node's wallet record");
      const message = hexToBytes(c.message ?? '');
      if (!messageLengthOk(wallet.scheme, message.length)) return refuse('wrong message length');
      const verdict = await this.authorize(e.session, c, e.from);
      if (!verdict.ok) return refuse(`policy: ${verdict.reason}`);
      this.o.audit.append('sign.joined', e.from, e.session, {
        wallet: wallet.id,
        message: c.message,
        path: c.path,
        signers: c.members.map((i) => c.participants[i - 1]),
      });
      this.begin(this.register(e.session, c, e.from, myIndex, await this.makeParty(e.session, c, myIndex)));
    } catch (err) {
      refuse(err instanceof Error ? err.message : 'cannot start');
    }
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
    let msg: WireMessage;
    try {
      msg = decodeWire(e.payload);
    } catch {
      this.abort(run, 'malformed-message', `undecodable protocol message from ${e.from}`, [e.from]);
      return;
    }
    // The party index inside the message must be the authenticated sender's (tss README, item 1).
    if (msg.from !== senderIndex || msg.session !== run.id || msg.round !== e.round) {
      this.dropped('header-mismatch', `${e.from} sent a message claiming party ${msg.from}`);
      return;
    }
    if ((msg.to === null) === e.encrypted) {
      this.dropped('header-mismatch', `${e.from}: encryption flag`);
      return;
    }
    this.step(run, () => run.party.receive(msg));
  }

  private step(run: Running, fn: () => WireMessage[]): void {
    if (run.finished) return;
    let out: WireMessage[];
    try {
      out = fn();
    } catch (e) {
      if (e instanceof ProtocolAbort) {
        const names = (idx: number[]) => idx.map((i) => run.start.participants[i - 1] ?? `#${i}`);
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

  /** Persist-before-release: the nonce use is recorded with the round advance, then messages leave. */
  private release(run: Running, out: WireMessage[]): void {
    const round = out[0]!.round;
    try {
      this.o.db.transaction(() => {
        if (run.start.kind === 'sign')
          this.o.db
            .prepare('INSERT INTO consumed_nonces (id, kind, session_id, consumed_at) VALUES (?, ?, ?, ?)')
            .run(`${run.id}/${run.myIndex}/${round}`, `${run.start.scheme}-nonce`, run.id, now());
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
    const others = run.others(this.o.nodeId);
    for (const m of out) {
      const targets = m.to === null ? others : [run.start.participants[m.to - 1]!];
      const payload = encodeWire(m);
      for (const t of targets)
        this.o.transport
          .send(t, { kind: 'protocol', session: run.id, round: m.round, payload, encrypt: m.to !== null })
          .catch((e) => this.abort(run, 'peer-unreachable', (e as Error).message, [t]));
    }
    const stall = this.o.stallAfter;
    if (stall && stall.kind === run.start.kind && stall.round === round) {
      run.stalled = true;
      process.stdout.write(`${JSON.stringify({ event: 'stalled', session: run.id, round })}\n`);
    }
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
      } else {
        output = bytesToHex((run.party as Party<Uint8Array>).result());
        this.finishRow(run.id, 'done', null, []);
        this.o.audit.append('sign.completed', this.o.nodeId, run.id, {
          wallet: run.start.walletId,
          signature: output,
        });
        try {
          this.o.onSigned?.({
            sessionId: run.id,
            walletId: run.start.walletId ?? '',
            message: run.start.message ?? '',
            path: run.start.path ?? 'm',
            signature: output,
            ...(run.start.request !== undefined ? { request: run.start.request } : {}),
            coordinator: run.coordinator,
            signers: run.start.members.map((i) => run.start.participants[i - 1]!),
          });
        } catch (err) {
          this.o.log.error({ session: run.id, err: (err as Error).message }, 'onSigned hook failed');
        }
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

  private ban(run: Running, peers: string[], reason: string): void {
    for (const p of peers) {
      if (p === this.o.nodeId) continue;
      this.o.db
        .prepare(
          'INSERT OR REPLACE INTO peer_bans (peer_id, reason, banned_at, cleared_at) VALUES (?, ?, ?, NULL)',
        )
        .run(p, `${reason} in session ${run.id}`, now());
      this.o.audit.append('peer.banned', this.o.nodeId, p, { session: run.id, reason });
    }
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
    const aborted = [...run.results.entries()].find(([, r]) => r.status === 'aborted');
    if (aborted) {
      const [peer, r] = aborted as [string, Extract<Outcome, { status: 'aborted' }>];
      settleOnce(run, { status: 'aborted', reason: `${peer}: ${r.reason}`, culprits: r.culprits });
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
    const disagree = others.filter((p) => (run.results.get(p) as { output?: string }).output !== ownOutput);
    if (disagree.length) {
      settleOnce(run, {
        status: 'aborted',
        reason: 'members reported different results',
        culprits: disagree,
      });
      return;
    }
    settleOnce(run, run.own);
  }

  private dropped(reason: string, detail: string): void {
    this.o.metrics.inc('coffer_session_messages_dropped_total', { reason });
    this.o.log.debug({ reason, detail }, 'session message dropped');
  }

  /** Late results still count after the coordinator's own party has finished. */
  async shutdown(): Promise<void> {
    for (const run of [...this.running.values()]) this.abort(run, 'internal-error', 'node shutting down', []);
  }
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

function now(): string {
  return new Date().toISOString();
}

const MAX_CONTROL_BYTES = 256 * 1024;
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
    return { type: 'abort', reason: o.reason.slice(0, 500) };
  }
  if (o.type === 'notice') {
    if (!isStr(o.topic) || !TOPIC.test(o.topic)) throw new Error('control.topic');
    if (!isStr(o.body)) throw new Error('control.body');
    return { type: 'notice', topic: o.topic, body: o.body };
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
    if (o.kind !== 'keygen' && o.kind !== 'sign') throw new Error('control.kind');
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
    if (o.path !== undefined && !(isStr(o.path) && /^m(\/\d+)*$/.test(o.path) && o.path.length <= 200))
      throw new Error('control.path');
    if (o.request !== undefined && !(isStr(o.request) && o.request.length <= MAX_REQUEST_CHARS))
      throw new Error('control.request');
    if (o.kind === 'keygen' && o.request !== undefined) throw new Error('control.request: keygen has none');
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
      label,
    };
  }
  throw new Error('control.type');
}
