// Receipts and limit history (signer-node/docs/policy-api.md, "Receipts and limit history").
//
// Each signing member stores a receipt signed by its identity key when its party finishes and sends it
// to every peer (notice `receipt`). To evaluate a limit a node asks the wallet's other key holders for
// their receipts in the window (notice `history.query` → `history.reply`); the history counts as complete
// only with answers from at least n − t + 1 holders (itself included), because every signing set of t
// holders then contains one of them. Requests a node authorized but has not seen complete are counted
// like receipts, locally and in its replies, so two concurrent requests cannot both fit one limit.
import { canonicalBytes } from '@coffer/policy/canonical';
import type { Receipt } from '@coffer/policy/evaluate';
import { domainMessage, verifyEd25519 } from '@coffer/policy/keys';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/log.ts';
import { durably, type NodeDatabase } from '../storage/db.ts';
import { sameAddress } from './bundle.ts';

export const RECEIPT_DOMAIN = 'coffer/receipt/1';
/** An authorization with no session row (the node stopped in between) stops counting after this long. */
export const AUTHORIZATION_TTL_MS = 10 * 60_000;
/** Authorizations older than this are never looked at (longer than any sensible limit window). */
export const AUTHORIZATION_HORIZON_MS = 400 * 86_400_000;

/**
 * The round in which a member releases its signature share: FROST signing round 2, DKLs23 signing
 * round 3, the single online round of a presigned ECDSA signature. Once a node released it, the
 * signature may exist even if the session failed here.
 */
function signatureShareRound(scheme: string | null, presigned: boolean): number {
  if (presigned) return 1;
  return scheme === 'ecdsa-secp256k1' ? 3 : 2;
}

type AuthorizationRow = {
  body: string;
  authorized_at_ms: number;
  completed_at_ms: number | null;
  status: string | null;
  round: number | null;
  scheme: string | null;
  presignature_id: string | null;
};

function countsAt(r: AuthorizationRow, nowMs: number): boolean {
  if (r.completed_at_ms !== null) return true;
  if (r.status === null) return r.authorized_at_ms > nowMs - AUTHORIZATION_TTL_MS;
  if (r.status === 'running' || r.status === 'done') return true;
  return (r.round ?? 0) >= signatureShareRound(r.scheme, r.presignature_id !== null);
}
const MAX_REPLY_ENTRIES = 400;

export interface ReceiptBody {
  format: 'coffer-receipt/1';
  requestDigest: string;
  requestId: string;
  kind: 'transfer' | 'raw-digest';
  wallet: string;
  keyId: string;
  operator: string;
  /** Asset key (`chain:network:native|contract`), or `raw` for raw digests. */
  asset: string;
  to: string;
  amount: string;
  referenceValue?: string;
  completedAtMs: number;
  /** Node that signed this receipt (a member of the signing set). */
  signer: string;
  sessionId: string;
}

export interface SignedReceipt {
  body: ReceiptBody;
  signature: string;
}

type Json = Record<string, unknown>;
const IDENT = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** Strict decoder; returns undefined on anything unexpected (peer input is never trusted). */
export function receiptBodyFromWire(v: unknown): ReceiptBody | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Json;
  const keys = [
    'format',
    'requestDigest',
    'requestId',
    'kind',
    'wallet',
    'keyId',
    'operator',
    'asset',
    'to',
    'amount',
    'completedAtMs',
    'signer',
    'sessionId',
  ];
  for (const k of Object.keys(o)) if (!keys.includes(k) && k !== 'referenceValue') return undefined;
  const s = (x: unknown, re: RegExp) => typeof x === 'string' && re.test(x);
  if (
    o.format !== 'coffer-receipt/1' ||
    !s(o.requestDigest, HEX64) ||
    !s(o.requestId, /^[\x21-\x7e]{1,128}$/) ||
    (o.kind !== 'transfer' && o.kind !== 'raw-digest') ||
    !s(o.wallet, IDENT) ||
    !s(o.keyId, HEX64) ||
    !s(o.operator, IDENT) ||
    !s(o.asset, /^[\x21-\x7e]{1,200}$/) ||
    !s(o.to, /^[0-9A-Za-z]{0,100}$/) ||
    !s(o.amount, /^(0|[1-9][0-9]{0,77})$/) ||
    (o.referenceValue !== undefined && !s(o.referenceValue, /^(0|[1-9][0-9]{0,77})$/)) ||
    typeof o.completedAtMs !== 'number' ||
    !Number.isSafeInteger(o.completedAtMs) ||
    !s(o.signer, /^[a-z0-9][a-z0-9-]{0,31}$/) ||
    !s(o.sessionId, /^[a-z]{2}-[0-9a-f]{32}$/)
  )
    return undefined;
  return o as unknown as ReceiptBody;
}

export function receiptMessage(body: ReceiptBody): Uint8Array {
  return domainMessage(RECEIPT_DOMAIN, canonicalBytes(body));
}

export function toEngineReceipt(body: ReceiptBody): Receipt {
  return {
    requestDigest: body.requestDigest,
    wallet: body.wallet,
    operator: body.operator,
    asset: body.asset,
    to: body.to,
    amount: BigInt(body.amount),
    ...(body.referenceValue !== undefined ? { referenceValue: BigInt(body.referenceValue) } : {}),
    completedAtMs: body.completedAtMs,
  };
}

export interface KnownDestinationQuery {
  /** Policy wallet id of the request (the subject of the policy's rules, limits and delays). */
  wallet: string;
  chain: string;
  network: string;
  to: string;
  /** Distinct signers whose receipts make a transfer count (the key's threshold). */
  signers: number;
}

/**
 * Candidate receipts for one destination of one policy wallet, by the index of migration 6
 * (`destination_folded` is the ASCII-lowercased `to`; the exact comparison follows in code). Bounded:
 * a flood of receipts for one destination can only hide it, which keeps the delay.
 */
export const KNOWN_DESTINATIONS_SQL = `SELECT request_id, signer, json_extract(body, '$.to') AS address,
    json_extract(body, '$.asset') AS asset
  FROM receipts
  WHERE destination_folded = ? AND wallet = ? AND json_extract(body, '$.kind') = 'transfer'
  ORDER BY completed_at_ms DESC LIMIT ?`;
const MAX_DESTINATION_ROWS = 2000;

export interface ReceiptDeps {
  db: NodeDatabase;
  audit: AuditLog;
  log: Logger;
  nodeId: string;
  /** Pinned Ed25519 identity keys (hex) of the peers, and this node's own. */
  identityKeys: Map<string, string>;
  sign: (message: Uint8Array) => Promise<Uint8Array>;
  sendNotice: (peer: string, topic: string, body: string) => Promise<void>;
  peers: () => string[];
}

export interface HistoryAnswer {
  /** Nodes whose receipts are included (this node, plus every peer that answered in time). */
  answered: string[];
  entries: ReceiptBody[];
}

export class ReceiptBook {
  private readonly waiting = new Map<
    string,
    { from: Set<string>; need: number; entries: ReceiptBody[]; answered: Set<string>; done: () => void }
  >();

  constructor(private readonly d: ReceiptDeps) {}

  /** Signs, stores and sends this node's receipt for a finished signature. */
  async issue(body: Omit<ReceiptBody, 'format' | 'signer'>): Promise<SignedReceipt> {
    const full: ReceiptBody = { format: 'coffer-receipt/1', ...body, signer: this.d.nodeId };
    const signature = bytesToHex(await this.d.sign(receiptMessage(full)));
    const receipt = { body: full, signature };
    const record = () => {
      this.store(receipt);
      this.d.db
        .prepare('UPDATE policy_authorizations SET completed_at_ms = ? WHERE request_digest = ?')
        .run(full.completedAtMs, full.requestDigest);
      this.d.audit.append('policy.receipt', this.d.nodeId, full.requestId, {
        requestDigest: full.requestDigest,
        session: full.sessionId,
        wallet: full.wallet,
        operator: full.operator,
        asset: full.asset,
        to: full.to,
        amount: full.amount,
      });
    };
    // A transfer's receipt is limit history: fsynced (with everything before it), so that a power loss
    // cannot erase the record of a transfer that may already be on chain.
    if (full.kind === 'transfer') durably(this.d.db, record);
    else record();
    const text = JSON.stringify(receipt);
    for (const peer of this.d.peers())
      this.d
        .sendNotice(peer, 'receipt', text)
        .catch((e) => this.d.log.warn({ peer, err: (e as Error).message }, 'receipt not delivered'));
    return receipt;
  }

  /** Verifies a receipt against its signer's pinned key; stores it once. */
  accept(value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const body = receiptBodyFromWire((value as Json).body);
    const signature = (value as Json).signature;
    if (!body || typeof signature !== 'string') return false;
    const key = this.d.identityKeys.get(body.signer);
    if (!key || !verifyEd25519(signature, receiptMessage(body), key)) return false;
    this.store({ body, signature });
    return true;
  }

  private store(r: SignedReceipt): void {
    this.d.db
      .prepare(
        `INSERT OR IGNORE INTO receipts (id, request_id, body, signatures, received_at, signer, completed_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        `${r.body.requestDigest}/${r.body.signer}`,
        r.body.requestDigest,
        JSON.stringify(r.body),
        JSON.stringify({ [r.body.signer]: r.signature }),
        new Date().toISOString(),
        r.body.signer,
        r.body.completedAtMs,
      );
  }

  /** Stored receipts completed in (fromMs, toMs], with their signatures. */
  receiptsIn(fromMs: number, toMs: number): SignedReceipt[] {
    const rows = this.d.db
      .prepare(
        'SELECT body, signatures, signer FROM receipts WHERE completed_at_ms > ? AND completed_at_ms <= ? ORDER BY completed_at_ms LIMIT 5000',
      )
      .all(fromMs, toMs) as Array<{ body: string; signatures: string; signer: string }>;
    return rows.map((r) => ({
      body: JSON.parse(r.body) as ReceiptBody,
      signature: (JSON.parse(r.signatures) as Record<string, string>)[r.signer] ?? '',
    }));
  }

  /**
   * The first-time-destination rule (signer-node/docs/policy-api.md, "Known destinations"): `to` is
   * known for a transfer only if policy wallet `wallet` already completed a transfer to it on the same
   * `chain:network`, addresses compared by the chain's rules. A completed transfer counts when this node
   * signed its own receipt for it, or when `signers` distinct nodes (the key's threshold) did, each
   * receipt verified under its signer's pinned key when it arrived: fewer than `signers` compromised
   * nodes cannot make a destination known by signing receipts for transfers that never happened.
   * One indexed probe for this destination and wallet (migration 6), never a scan of every receipt.
   * Answers the stored spellings of `to` that qualify (empty when it is a first-time destination).
   */
  knownDestinations(query: KnownDestinationQuery): string[] {
    const prefix = `${query.chain}:${query.network}:`;
    const rows = this.d.db
      .prepare(KNOWN_DESTINATIONS_SQL)
      .all(query.to.toLowerCase(), query.wallet, MAX_DESTINATION_ROWS) as Array<{
      request_id: string;
      signer: string;
      address: string;
      asset: string;
    }>;
    const signersOf = new Map<string, { address: string; signers: Set<string> }>();
    for (const r of rows) {
      if (!r.asset.startsWith(prefix) || !sameAddress(query.chain, r.address, query.to)) continue;
      const group = signersOf.get(r.request_id) ?? { address: r.address, signers: new Set<string>() };
      group.signers.add(r.signer);
      signersOf.set(r.request_id, group);
    }
    const known = new Set<string>();
    for (const { address, signers } of signersOf.values())
      if (signers.has(this.d.nodeId) || signers.size >= query.signers) known.add(address);
    return [...known];
  }

  // ---- authorizations in flight ----

  recordAuthorization(body: Omit<ReceiptBody, 'format' | 'signer'>, nowMs: number): void {
    const full: ReceiptBody = { format: 'coffer-receipt/1', ...body, signer: this.d.nodeId };
    this.d.db.transaction(() => {
      // A retry of the same request replaces the earlier record only if that one no longer counts
      // (its session cannot have produced a signature); either way the request counts once.
      const existing = this.rows('a.request_digest = ?', full.requestDigest)[0];
      if (existing && countsAt(existing, nowMs)) return;
      this.d.db
        .prepare(
          `INSERT INTO policy_authorizations (request_digest, session_id, body, authorized_at_ms)
           VALUES (?, ?, ?, ?)
           ON CONFLICT(request_digest) DO UPDATE SET session_id = excluded.session_id, body = excluded.body,
             authorized_at_ms = excluded.authorized_at_ms, completed_at_ms = NULL`,
        )
        .run(full.requestDigest, full.sessionId, JSON.stringify(full), nowMs);
    })();
  }

  private rows(where: string, arg: string | number): AuthorizationRow[] {
    return this.d.db
      .prepare(
        `SELECT a.body, a.authorized_at_ms, a.completed_at_ms, s.status, s.round, s.scheme, s.presignature_id
         FROM policy_authorizations a LEFT JOIN sessions s ON s.id = a.session_id
         WHERE ${where} ORDER BY a.authorized_at_ms DESC LIMIT 2000`,
      )
      .all(arg) as AuthorizationRow[];
  }

  /**
   * Authorizations without a receipt that may still have produced (or may yet produce) a signature:
   * the session is running or done here; or it failed after this node released its signature-share
   * round (a coordinator that withholds its last message can still hold the signature, so such a
   * session counts like a receipt until it leaves the limit windows); or no session row exists yet
   * and the authorization is recent. A session that failed before this node released its last round
   * cannot have produced a signature and stops counting.
   */
  inFlight(nowMs: number): ReceiptBody[] {
    return this.rows('a.completed_at_ms IS NULL AND a.authorized_at_ms > ?', nowMs - AUTHORIZATION_HORIZON_MS)
      .filter((r) => countsAt(r, nowMs))
      .map((r) => JSON.parse(r.body) as ReceiptBody);
  }

  // ---- history exchange ----

  /**
   * Asks `holders` (peers holding the wallet's key) for their receipts and authorizations in
   * (fromMs, toMs]; resolves once `need` nodes (this one included) answered, or after `timeoutMs`.
   */
  async queryHistory(
    holders: string[],
    need: number,
    fromMs: number,
    toMs: number,
    timeoutMs: number,
  ): Promise<HistoryAnswer> {
    const queryId = `hq-${bytesToHex(randomBytes(16))}`;
    const entries: ReceiptBody[] = [
      ...this.receiptsIn(fromMs, toMs).map((r) => r.body),
      ...this.inFlight(toMs),
    ];
    const answered = new Set<string>([this.d.nodeId]);
    const asked = new Set(holders.filter((h) => h !== this.d.nodeId));
    if (asked.size > 0 && answered.size < need) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiting.delete(queryId);
          resolve();
        }, timeoutMs);
        this.waiting.set(queryId, {
          from: asked,
          need,
          entries,
          answered,
          done: () => {
            clearTimeout(timer);
            this.waiting.delete(queryId);
            resolve();
          },
        });
        const body = JSON.stringify({ queryId, fromMs, toMs });
        for (const peer of asked) this.d.sendNotice(peer, 'history.query', body).catch(() => undefined);
      });
    }
    return { answered: [...answered].sort(), entries };
  }

  /** Notices `receipt`, `history.query`, `history.reply` from an authenticated, pinned peer. */
  handleNotice(from: string, topic: string, body: string): void {
    const value = JSON.parse(body) as unknown;
    if (topic === 'receipt') {
      if (!this.accept(value)) throw new Error('receipt does not verify');
      return;
    }
    if (topic === 'history.query') {
      const q = value as Json;
      const { queryId, fromMs, toMs } = q;
      if (
        typeof queryId !== 'string' ||
        !/^hq-[0-9a-f]{32}$/.test(queryId) ||
        typeof fromMs !== 'number' ||
        typeof toMs !== 'number' ||
        !Number.isSafeInteger(fromMs) ||
        !Number.isSafeInteger(toMs)
      )
        throw new Error('malformed history.query');
      const receipts = this.receiptsIn(fromMs, toMs);
      const pending = this.inFlight(Date.now());
      const complete = receipts.length + pending.length <= MAX_REPLY_ENTRIES;
      const reply = complete
        ? { queryId, complete, receipts, pending }
        : { queryId, complete, receipts: [], pending: [] };
      this.d.sendNotice(from, 'history.reply', JSON.stringify(reply)).catch(() => undefined);
      return;
    }
    if (topic === 'history.reply') {
      const r = value as Json;
      const wait = typeof r.queryId === 'string' ? this.waiting.get(r.queryId) : undefined;
      if (!wait?.from.has(from)) return;
      if (r.complete !== true || !Array.isArray(r.receipts) || !Array.isArray(r.pending))
        throw new Error('history.reply incomplete');
      const receipts: ReceiptBody[] = [];
      for (const item of r.receipts) {
        // Every receipt verifies under its own signer's pinned key, whoever relays it.
        if (!this.accept(item)) throw new Error('history.reply carries a receipt that does not verify');
        receipts.push(receiptBodyFromWire((item as Json).body)!);
      }
      const pending: ReceiptBody[] = [];
      for (const item of r.pending) {
        const b = receiptBodyFromWire(item);
        // A peer speaks only for its own authorizations (the envelope authenticates it).
        if (!b || b.signer !== from) throw new Error('history.reply carries a foreign authorization');
        pending.push(b);
      }
      wait.entries.push(...receipts, ...pending);
      wait.answered.add(from);
      wait.from.delete(from);
      if (wait.from.size === 0 || wait.answered.size >= wait.need) wait.done();
      return;
    }
    throw new Error(`unknown topic ${topic}`);
  }
}
