// The desk's tamper-evident audit log (the signer nodes' hash-chain idea, on PostgreSQL): every action —
// who, what, on which subject, with what evidence — is one row of otc_audit written in the transaction of
// the change it records, so an action and its audit entry commit or vanish together. Entry n stores
//   hash_n = SHA-256(hash_{n-1} ‖ canonical JSON of {seq, at, actor, role, action, subject, detail})
// (hash_0 = 64 zeros; a hash is 64 hex characters, so the concatenation is unambiguous and canonical JSON
// has sorted keys). `verifyAudit` recomputes the chain and reports altered, removed, reordered and inserted
// entries. Rewriting the whole tail with fresh hashes is only detectable against a head recorded elsewhere
// (`expectedHead`), as with any hash chain without signed checkpoints.
import { createHash } from 'node:crypto';
import { canonicalJson, isPlainObject, type JsonValue, toJsonValue } from '../canonical-json.ts';
import { type Actor, ROLES } from '../config/types.ts';
import type { Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';
import { redactSecrets } from './redact.ts';

export type AuditEntry = {
  seq: number;
  /** UTC, microseconds: exactly what the database holds, so a changed microsecond is detected. */
  at: string;
  actor: string;
  role: string;
  action: string;
  subject: string | null;
  detail: { [key: string]: JsonValue };
  prevHash: string;
  hash: string;
};

export type AuditInput = {
  actor: Actor;
  /** What was done, dotted lower case: `order.released`, `desk.frozen`, `fiat.evidence_recorded`. */
  action: string;
  /** What it was done to: an order id, `asset:ETH`, … */
  subject?: string;
  /** The evidence. Secret-named keys are dropped before hashing (see redact.ts). */
  detail: Record<string, unknown>;
};

export type AuditVerification = {
  ok: boolean;
  entries: number;
  /** The last entry seen, to be recorded outside the database and passed back as `expectedHead`. */
  head: { seq: number; hash: string } | null;
  /** Human-readable findings, first problem first; empty when ok. */
  problems: string[];
};

/** The advisory lock every append takes: entries of all instances on one server are strictly ordered. */
export const AUDIT_LOCK = 7_344_002;
export const GENESIS_HASH = '0'.repeat(64);
const PAGE = 1000;
const MAX_EXPORT = 10_000;
const MAX_PROBLEMS = 200;
const ACTION = /^[a-z][a-z0-9_]*([.:-][a-z0-9_]+)*$/;
const AT_SQL = `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`;
const COLUMNS = `seq, ${AT_SQL}, actor, role, action, subject, detail, prev_hash, hash`;

/**
 * Appends one entry inside the caller's transaction `tx` (never a bare Database: the advisory lock must
 * last until the caller commits, or two instances could both append after the same entry).
 */
export async function appendAudit(
  tx: Queryable,
  input: AuditInput,
  opts: { now?: () => number } = {},
): Promise<AuditEntry> {
  if ('transaction' in tx)
    throw new OtcError('internal', 'appendAudit must run inside the caller’s transaction, not on the pool');
  const fields = validateInput(input);
  await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
  const last = await tx.query<{ seq: string; hash: string }>(
    'SELECT seq, hash FROM otc_audit ORDER BY seq DESC LIMIT 1',
  );
  const prev = last.rows[0];
  const seq = prev === undefined ? 1 : Number(prev.seq) + 1;
  const prevHash = prev?.hash ?? GENESIS_HASH;
  const at = microsecondIso(opts.now?.() ?? Date.now());
  const content = { seq, at, ...fields };
  const hash = entryHash(prevHash, content);
  await tx.query(
    `INSERT INTO otc_audit (seq, at, actor, role, action, subject, detail, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)`,
    [
      seq,
      at,
      fields.actor,
      fields.role,
      fields.action,
      fields.subject,
      JSON.stringify(fields.detail),
      prevHash,
      hash,
    ],
  );
  return { ...content, prevHash, hash };
}

/** The chain hash of one entry (exported for tests and offline verifiers of an export). */
export function entryHash(prevHash: string, e: Omit<AuditEntry, 'prevHash' | 'hash'>): string {
  const content = canonicalJson({
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    role: e.role,
    action: e.action,
    subject: e.subject,
    detail: e.detail,
  });
  return createHash('sha256').update(prevHash, 'utf8').update(content, 'utf8').digest('hex');
}

function validateInput(input: AuditInput): Omit<AuditEntry, 'seq' | 'at' | 'prevHash' | 'hash'> {
  if (!isPlainObject(input)) throw invalid('audit', 'must be an object');
  const actor = input.actor as unknown;
  if (!isPlainObject(actor)) throw invalid('audit.actor', 'must be {id, role}');
  const id = boundedText(actor.id, 'audit.actor.id', 200);
  const role = actor.role;
  if (typeof role !== 'string' || !(role === 'system' || (ROLES as readonly string[]).includes(role)))
    throw invalid('audit.actor.role', `must be one of ${[...ROLES, 'system'].join(', ')}`);
  const action = boundedText(input.action, 'audit.action', 100);
  if (!ACTION.test(action)) throw invalid('audit.action', 'must be dotted lower case, e.g. order.released');
  const subject = input.subject === undefined ? null : boundedText(input.subject, 'audit.subject', 200);
  if (!isPlainObject(input.detail)) throw invalid('audit.detail', 'must be a plain object');
  const detail = toJsonValue(redactSecrets(input.detail), 'audit.detail') as { [key: string]: JsonValue };
  return { actor: id, role, action, subject, detail };
}

function boundedText(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'must be a non-empty string');
  if (value.length > max) throw invalid(field, `must be at most ${max} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalid(field, 'must not contain control characters');
  return value;
}

/** ISO-8601 UTC with microseconds, the form `AT_SQL` reads back. */
function microsecondIso(ms: number): string {
  if (!Number.isFinite(ms)) throw invalid('now', 'clock returned a non-finite time');
  return new Date(Math.floor(ms)).toISOString().replace(/Z$/, '000Z');
}

/**
 * Walks the whole log in pages: sequence numbers must run 1, 2, 3 … (a removed entry leaves a gap), each
 * entry must name its predecessor's hash (a reordered or inserted entry breaks the chain) and each stored
 * hash must match its recomputed content (an altered field no longer matches).
 */
export async function verifyAudit(
  q: Queryable,
  opts: { expectedHead?: { seq: number; hash: string } } = {},
): Promise<AuditVerification> {
  const problems: string[] = [];
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let entries = 0;
  let head: AuditVerification['head'] = null;
  let headMatched = false;
  for (let after = 0; ; ) {
    const page = await readPage(q, after, PAGE);
    for (const e of page) {
      entries++;
      checkEntry(e, expectedSeq, prevHash, problems);
      if (opts.expectedHead?.seq === e.seq && opts.expectedHead.hash === e.hash) headMatched = true;
      prevHash = e.hash;
      expectedSeq = e.seq + 1;
      head = { seq: e.seq, hash: e.hash };
    }
    if (page.length < PAGE) break;
    after = head?.seq ?? 0;
  }
  if (opts.expectedHead !== undefined && !headMatched)
    problems.push(`recorded head ${opts.expectedHead.seq} is not in the log (entries removed or rewritten)`);
  const shown =
    problems.length > MAX_PROBLEMS ? [...problems.slice(0, MAX_PROBLEMS), '… more problems'] : problems;
  return { ok: problems.length === 0, entries, head, problems: shown };
}

function checkEntry(e: AuditEntry, expectedSeq: number, prevHash: string, problems: string[]): void {
  if (e.seq !== expectedSeq)
    problems.push(
      `entr${e.seq - expectedSeq > 1 ? `ies ${expectedSeq}–${e.seq - 1}` : `y ${expectedSeq}`} missing`,
    );
  if (e.prevHash !== prevHash)
    problems.push(
      `entry ${e.seq} does not follow the entry before it (chain broken: reordered, inserted or removed)`,
    );
  let recomputed: string | undefined;
  try {
    recomputed = entryHash(e.prevHash, e);
  } catch {
    recomputed = undefined;
  }
  if (recomputed !== e.hash)
    problems.push(`entry ${e.seq} was altered (its hash does not match its content)`);
}

/** Entries from `fromSeq` (default 1) in order, at most `limit` (default 1000, at most 10 000). */
export async function exportAudit(
  q: Queryable,
  opts: { fromSeq?: number; limit?: number } = {},
): Promise<AuditEntry[]> {
  const fromSeq = opts.fromSeq ?? 1;
  const limit = opts.limit ?? 1000;
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) throw invalid('fromSeq', 'must be an integer ≥ 1');
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_EXPORT)
    throw invalid('limit', `must be an integer from 1 to ${MAX_EXPORT}`);
  return readPage(q, fromSeq - 1, limit);
}

/** One canonical JSON object per line: the export format, verifiable offline with `entryHash`. */
export function auditJsonLines(entries: readonly AuditEntry[]): string {
  return entries.map((e) => `${canonicalJson(e)}\n`).join('');
}

async function readPage(q: Queryable, afterSeq: number, limit: number): Promise<AuditEntry[]> {
  const r = await q.query<Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM otc_audit WHERE seq > $1 ORDER BY seq LIMIT $2`,
    [afterSeq, limit],
  );
  return r.rows.map(rowToEntry);
}

function rowToEntry(row: Record<string, unknown>): AuditEntry {
  return {
    seq: Number(row.seq),
    at: String(row.at),
    actor: String(row.actor),
    role: String(row.role),
    action: String(row.action),
    subject: row.subject === null ? null : String(row.subject),
    detail: row.detail as AuditEntry['detail'],
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
  };
}
