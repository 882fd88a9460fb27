// Transfer and raw-digest requests in the node's SQLite database (migration 5): one row per request,
// every status change a compare-and-set checked against the lifecycle table, stored with its time in
// `request_transitions` and appended to the audit log in the same transaction (a transition that
// cannot be logged does not happen).
import type { Decision } from '@coffer/policy/evaluate';
import type { AuditLog } from '../audit/log.ts';
import { durably, type NodeDatabase } from '../storage/db.ts';
import { canTransition, isStatus, type RequestStatus, TERMINAL } from './lifecycle.ts';

export type RequestKind = 'transfer' | 'raw-digest';
export type RequestRole = 'coordinator' | 'peer';

export interface NewRequest {
  id: string;
  kind: RequestKind;
  role: RequestRole;
  origin: string;
  operator: string;
  idempotencyKey: string;
  fingerprint: string;
  wallet: string;
  keyId: string;
  path: string;
  requestDigest: string;
  signingDigest: string;
  /** RequestBundle JSON (approvals and vetoes included). */
  bundle: string;
  reference: string | null;
  evmFrom: string | null;
  evmNonce: number | null;
  firstSeenMs: number;
}

export interface StoredRequest extends NewRequest {
  status: RequestStatus;
  decision: Decision | null;
  signature: string | null;
  signedTransaction: string | null;
  txHash: string | null;
  signers: string[];
  error: string | null;
  nextActionMs: number | null;
  createdAt: string;
  updatedAt: string;
  history: { status: RequestStatus; at: string; detail?: string }[];
}

/** Fields a transition may set together with the new status. */
export interface TransitionPatch {
  decision?: Decision;
  signature?: string;
  signedTransaction?: string;
  txHash?: string;
  signers?: string[];
  error?: string | null;
  nextActionMs?: number | null;
  bundle?: string;
}

export class RequestConflictError extends Error {
  override readonly name = 'RequestConflictError';
  constructor(
    readonly requestId: string,
    readonly from: RequestStatus,
    readonly to: RequestStatus,
  ) {
    super(`request ${requestId} is ${from}; it cannot become ${to}`);
  }
}

type Row = Record<string, unknown>;

const MAX_LIST = 1000;

export class RequestStore {
  constructor(
    private readonly db: NodeDatabase,
    private readonly audit: AuditLog,
    private readonly clock: () => number = Date.now,
    /** Told of every status a request enters on this node (metrics). */
    private readonly onStatus: (status: RequestStatus) => void = () => undefined,
  ) {}

  /** Stores a new request as `submitted` (one transition, one audit entry). */
  insert(request: NewRequest, actor: string, details: Record<string, unknown> = {}): StoredRequest {
    const at = new Date(this.clock()).toISOString();
    this.write(request.kind === 'transfer', () => {
      this.db
        .prepare(
          `INSERT INTO requests (id, kind, role, origin, operator, idempotency_key, fingerprint, wallet, key_id,
             path, request_digest, signing_digest, bundle, reference, evm_from, evm_nonce, status, first_seen_ms,
             created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'submitted', ?, ?, ?)`,
        )
        .run(
          request.id,
          request.kind,
          request.role,
          request.origin,
          request.operator,
          request.idempotencyKey,
          request.fingerprint,
          request.wallet,
          request.keyId,
          request.path,
          request.requestDigest,
          request.signingDigest,
          request.bundle,
          request.reference,
          request.evmFrom,
          request.evmNonce,
          request.firstSeenMs,
          at,
          at,
        );
      this.db
        .prepare(
          "INSERT INTO request_transitions (request_id, seq, status, at, detail) VALUES (?, 1, 'submitted', ?, NULL)",
        )
        .run(request.id, at);
      this.audit.append('request.submitted', actor, request.id, {
        kind: request.kind,
        role: request.role,
        origin: request.origin,
        operator: request.operator,
        wallet: request.wallet,
        keyId: request.keyId,
        path: request.path,
        requestDigest: request.requestDigest,
        signingDigest: request.signingDigest,
        ...details,
      });
    });
    this.onStatus('submitted');
    return this.get(request.id)!;
  }

  /**
   * Moves a request from `from` to `to` if it is still in `from` (compare-and-set) and the lifecycle
   * allows it; returns undefined when another path moved it first. Same status = an update in place
   * (new decision or bundle), recorded in the audit log but not as a transition.
   */
  transition(
    id: string,
    from: RequestStatus,
    to: RequestStatus,
    actor: string,
    patch: TransitionPatch = {},
    detail?: string,
  ): StoredRequest | undefined {
    if (from !== to && !canTransition(from, to)) throw new RequestConflictError(id, from, to);
    const at = new Date(this.clock()).toISOString();
    const durable = to === 'cancelled' || patch.bundle !== undefined || this.kindOf(id) === 'transfer';
    const changed = this.write(durable, () => {
      const sets: string[] = ['status = ?', 'updated_at = ?'];
      const values: unknown[] = [to, at];
      const add = (column: string, value: unknown) => {
        sets.push(`${column} = ?`);
        values.push(value);
      };
      if (patch.decision !== undefined) add('decision', JSON.stringify(patch.decision));
      if (patch.signature !== undefined) add('signature', patch.signature);
      if (patch.signedTransaction !== undefined) add('signed_tx', patch.signedTransaction);
      if (patch.txHash !== undefined) add('tx_hash', patch.txHash);
      if (patch.signers !== undefined) add('signers', JSON.stringify(patch.signers));
      if (patch.error !== undefined) add('error', patch.error);
      if (patch.nextActionMs !== undefined) add('next_action_ms', patch.nextActionMs);
      if (patch.bundle !== undefined) add('bundle', patch.bundle);
      if (TERMINAL.includes(to)) add('next_action_ms', null);
      const result = this.db
        .prepare(`UPDATE requests SET ${sets.join(', ')} WHERE id = ? AND status = ?`)
        .run(...values, id, from);
      if (result.changes !== 1) return false;
      if (from !== to) {
        this.db
          .prepare(
            `INSERT INTO request_transitions (request_id, seq, status, at, detail)
             VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM request_transitions WHERE request_id = ?), ?, ?, ?)`,
          )
          .run(id, id, to, at, detail ?? null);
      }
      this.audit.append(from === to ? 'request.updated' : `request.${to}`, actor, id, {
        from,
        to,
        ...(detail !== undefined ? { detail } : {}),
        ...(patch.decision !== undefined
          ? { outcome: patch.decision.outcome, reasons: patch.decision.reasons.map((r) => r.code) }
          : {}),
        ...(patch.txHash !== undefined ? { txHash: patch.txHash } : {}),
        ...(patch.signers !== undefined ? { signers: patch.signers } : {}),
        ...(patch.error ? { error: patch.error } : {}),
      });
      return true;
    });
    if (!changed) return undefined;
    if (from !== to) this.onStatus(to);
    return this.get(id);
  }

  /**
   * One transaction; `durable` ones are fsynced before this returns (storage/db.ts `durably`). Durable:
   * every change of a transfer (its idempotency key, EVM nonce and signed transaction must survive a power
   * loss: a resubmission must find them rather than build a second transaction), and of any request a
   * cancellation or a new bundle (approvals, vetoes).
   */
  private write<T>(durable: boolean, fn: () => T): T {
    const run = () => this.db.transaction(fn)();
    return durable ? durably(this.db, run) : run();
  }

  private kindOf(id: string): string | undefined {
    return (this.db.prepare('SELECT kind FROM requests WHERE id = ?').get(id) as { kind: string } | undefined)
      ?.kind;
  }

  /** Sets when the scheduler should look at a request next (no status change, not audited). */
  schedule(id: string, nextActionMs: number | null): void {
    this.db.prepare('UPDATE requests SET next_action_ms = ? WHERE id = ?').run(nextActionMs, id);
  }

  get(id: string): StoredRequest | undefined {
    const row = this.db.prepare('SELECT * FROM requests WHERE id = ?').get(id) as Row | undefined;
    return row === undefined ? undefined : this.fromRow(row);
  }

  byIdempotencyKey(operator: string, key: string): StoredRequest | undefined {
    const row = this.db
      .prepare('SELECT * FROM requests WHERE operator = ? AND idempotency_key = ?')
      .get(operator, key) as Row | undefined;
    return row === undefined ? undefined : this.fromRow(row);
  }

  /** Every operator's request under `key` (at most one each: the index is unique on operator and key). */
  allByIdempotencyKey(key: string): StoredRequest[] {
    const rows = this.db
      .prepare('SELECT * FROM requests WHERE idempotency_key = ? ORDER BY created_at, id LIMIT ?')
      .all(key, MAX_LIST) as Row[];
    return rows.map((row) => this.fromRow(row));
  }

  list(options: { status?: RequestStatus; limit?: number }): StoredRequest[] {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), MAX_LIST);
    const rows = this.db
      .prepare(`SELECT * FROM requests WHERE (? IS NULL OR status = ?) ORDER BY created_at DESC, id LIMIT ?`)
      .all(options.status ?? null, options.status ?? null, limit) as Row[];
    return rows.map((row) => this.fromRow(row));
  }

  /** Requests this node coordinates whose scheduled time has come, oldest first (bounded). */
  due(nowMs: number, limit: number): StoredRequest[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM requests WHERE next_action_ms IS NOT NULL AND next_action_ms <= ?
         ORDER BY next_action_ms LIMIT ?`,
      )
      .all(nowMs, limit) as Row[];
    return rows.map((row) => this.fromRow(row));
  }

  /** How many requests this node coordinates are in one of `statuses`. */
  countCoordinated(statuses: readonly RequestStatus[]): number {
    const marks = statuses.map(() => '?').join(', ');
    return (
      this.db
        .prepare(`SELECT COUNT(*) AS n FROM requests WHERE role = 'coordinator' AND status IN (${marks})`)
        .get(...statuses) as { n: number }
    ).n;
  }

  /** Requests in `status` that this node coordinates (restart recovery). */
  coordinatedIn(status: RequestStatus): StoredRequest[] {
    const rows = this.db
      .prepare("SELECT * FROM requests WHERE role = 'coordinator' AND status = ? LIMIT ?")
      .all(status, MAX_LIST) as Row[];
    return rows.map((row) => this.fromRow(row));
  }

  /**
   * The highest EVM nonce this node has handed to a request from `from` that may still be mined
   * (not denied, cancelled, expired or failed), or undefined.
   */
  highestLiveNonce(from: string): number | undefined {
    const row = this.db
      .prepare(
        `SELECT MAX(evm_nonce) AS nonce FROM requests WHERE evm_from = ? AND role = 'coordinator'
         AND status NOT IN ('denied', 'cancelled', 'expired', 'failed')`,
      )
      .get(from.toLowerCase()) as { nonce: number | null };
    return row.nonce ?? undefined;
  }

  private fromRow(row: Row): StoredRequest {
    const status = row.status;
    if (!isStatus(status)) throw new Error(`request ${String(row.id)} has an unknown status in the database`);
    const history = (
      this.db
        .prepare('SELECT status, at, detail FROM request_transitions WHERE request_id = ? ORDER BY seq')
        .all(row.id) as Row[]
    ).map((t) => ({
      status: t.status as RequestStatus,
      at: String(t.at),
      ...(t.detail !== null ? { detail: String(t.detail) } : {}),
    }));
    return {
      id: String(row.id),
      kind: row.kind as RequestKind,
      role: row.role as RequestRole,
      origin: String(row.origin),
      operator: String(row.operator),
      idempotencyKey: String(row.idempotency_key),
      fingerprint: String(row.fingerprint),
      wallet: String(row.wallet),
      keyId: String(row.key_id),
      path: String(row.path),
      requestDigest: String(row.request_digest),
      signingDigest: String(row.signing_digest),
      bundle: String(row.bundle),
      reference: row.reference === null ? null : String(row.reference),
      evmFrom: row.evm_from === null ? null : String(row.evm_from),
      evmNonce: row.evm_nonce === null ? null : Number(row.evm_nonce),
      firstSeenMs: Number(row.first_seen_ms),
      status,
      decision: row.decision === null ? null : (JSON.parse(String(row.decision)) as Decision),
      signature: row.signature === null ? null : String(row.signature),
      signedTransaction: row.signed_tx === null ? null : String(row.signed_tx),
      txHash: row.tx_hash === null ? null : String(row.tx_hash),
      signers: row.signers === null ? [] : (JSON.parse(String(row.signers)) as string[]),
      error: row.error === null ? null : String(row.error),
      nextActionMs: row.next_action_ms === null ? null : Number(row.next_action_ms),
      createdAt: String(row.created_at),
      updatedAt: String(row.updated_at),
      history,
    };
  }
}
