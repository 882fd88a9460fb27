// The node's audit log (DESIGN §4): an append-only, hash-chained record of every key generation,
// request, session, signature and administrative action, with periodic checkpoints signed by the
// node's identity key. `verify` detects altered, removed and reordered entries. If an entry cannot
// be written the caller gets AuditWriteError and must refuse the operation it was recording.

import { Transcript } from '@coffer/tss';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import type { NodeDatabase } from '../storage/db.ts';
import { canonicalJson } from '../util/canonical-json.ts';

export type AuditEntry = {
  seq: number;
  at: string;
  kind: string;
  actor: string;
  subject: string;
  details: string; // canonical JSON
  prevHash: string;
  hash: string;
};

/** Signs checkpoints with the node identity key (held in the HSM or sealed). */
export type CheckpointSigner = {
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
};

export class AuditWriteError extends Error {
  override readonly name = 'AuditWriteError';
  readonly code = 'audit-unavailable';
}

export type AuditVerification = {
  ok: boolean;
  entries: number;
  checkpoints: number;
  /** Human-readable findings, first problem first; empty when ok. */
  problems: string[];
};

const GENESIS = '0'.repeat(64);

export class AuditLog {
  private readonly db: NodeDatabase;
  private readonly clock: () => Date;
  private readonly checkpointEvery: number;

  constructor(db: NodeDatabase, opts?: { clock?: () => Date; checkpointEvery?: number }) {
    this.db = db;
    this.clock = opts?.clock ?? (() => new Date());
    this.checkpointEvery = opts?.checkpointEvery ?? 64;
  }

  /** Appends one entry; throws AuditWriteError (never a partial write) if the log cannot be written. */
  append(kind: string, actor: string, subject: string, details: Record<string, unknown> = {}): AuditEntry {
    const body = canonicalJson(details);
    try {
      return this.db.transaction(() => {
        const last = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as
          | { seq: number; hash: string }
          | undefined;
        const seq = (last?.seq ?? 0) + 1;
        const prevHash = last?.hash ?? GENESIS;
        const at = this.clock().toISOString();
        const hash = entryHash({ seq, at, kind, actor, subject, details: body, prevHash });
        this.db
          .prepare(
            'INSERT INTO audit_log (seq, at, kind, actor, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          )
          .run(seq, at, kind, actor, subject, body, prevHash, hash);
        return { seq, at, kind, actor, subject, details: body, prevHash, hash };
      })();
    } catch (e) {
      throw new AuditWriteError(
        `audit log cannot be written (${(e as Error).message}); the operation is refused`,
        {
          cause: e,
        },
      );
    }
  }

  /** True when enough entries have accumulated since the last checkpoint. */
  checkpointDue(): boolean {
    const head = this.head();
    const last = this.db.prepare('SELECT MAX(seq) AS seq FROM audit_checkpoints').get() as {
      seq: number | null;
    };
    return head !== undefined && head.seq - (last.seq ?? 0) >= this.checkpointEvery;
  }

  /** Signs the current head with the node key. */
  async checkpoint(signer: CheckpointSigner): Promise<{ seq: number; hash: string } | undefined> {
    const head = this.head();
    if (!head) return undefined;
    const signature = await signer.sign(checkpointMessage(head.seq, head.hash));
    try {
      this.db
        .prepare(
          'INSERT OR IGNORE INTO audit_checkpoints (seq, hash, node_key, signature, created_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(
          head.seq,
          head.hash,
          bytesToHex(signer.publicKey),
          bytesToHex(signature),
          this.clock().toISOString(),
        );
    } catch (e) {
      throw new AuditWriteError(`audit checkpoint cannot be written (${(e as Error).message})`, { cause: e });
    }
    return head;
  }

  head(): { seq: number; hash: string } | undefined {
    return this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as
      | { seq: number; hash: string }
      | undefined;
  }

  entries(opts?: { afterSeq?: number; limit?: number }): AuditEntry[] {
    const rows = this.db
      .prepare('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(opts?.afterSeq ?? 0, Math.min(opts?.limit ?? 1000, 10_000)) as Array<Record<string, unknown>>;
    return rows.map(rowToEntry);
  }

  /**
   * Walks the whole log: sequence numbers must be contiguous from 1 (a removed entry leaves a gap),
   * each entry must point at its predecessor's hash (reordering breaks the chain), each stored hash
   * must match its recomputed content (an altered entry no longer matches), and every checkpoint must
   * carry a valid signature by `nodeKey` over the hash of the entry it seals.
   */
  verify(nodeKey: Uint8Array): AuditVerification {
    const problems: string[] = [];
    let expectedSeq = 1;
    let prevHash = GENESIS;
    let count = 0;
    const hashes = new Map<number, string>();
    for (const row of this.db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as Iterable<
      Record<string, unknown>
    >) {
      const e = rowToEntry(row);
      count++;
      if (e.seq !== expectedSeq)
        problems.push(`entry ${expectedSeq}${e.seq > expectedSeq + 1 ? `–${e.seq - 1}` : ''} missing`);
      if (e.prevHash !== prevHash)
        problems.push(`entry ${e.seq} does not follow its predecessor (chain broken)`);
      if (entryHash(e) !== e.hash) problems.push(`entry ${e.seq} was altered (hash mismatch)`);
      hashes.set(e.seq, e.hash);
      prevHash = e.hash;
      expectedSeq = e.seq + 1;
    }
    const checkpoints = this.db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq').all() as Array<{
      seq: number;
      hash: string;
      node_key: string;
      signature: string;
    }>;
    for (const c of checkpoints) {
      const entry = hashes.get(c.seq);
      if (entry === undefined) problems.push(`checkpoint ${c.seq} seals an entry that is missing`);
      else if (entry !== c.hash) problems.push(`checkpoint ${c.seq} does not match entry ${c.seq}`);
      let valid = false;
      try {
        valid =
          c.node_key === bytesToHex(nodeKey) &&
          ed25519.verify(hexToBytes(c.signature), checkpointMessage(c.seq, c.hash), nodeKey);
      } catch {
        valid = false;
      }
      if (!valid) problems.push(`checkpoint ${c.seq} has no valid signature by this node's key`);
    }
    const lastCheckpoint = checkpoints.at(-1)?.seq ?? 0;
    if (lastCheckpoint > expectedSeq - 1)
      problems.push(
        `entries after ${expectedSeq - 1} were removed (a checkpoint seals entry ${lastCheckpoint})`,
      );
    return { ok: problems.length === 0, entries: count, checkpoints: checkpoints.length, problems };
  }
}

function rowToEntry(row: Record<string, unknown>): AuditEntry {
  return {
    seq: row.seq as number,
    at: row.at as string,
    kind: row.kind as string,
    actor: row.actor as string,
    subject: row.subject as string,
    details: row.details as string,
    prevHash: row.prev_hash as string,
    hash: row.hash as string,
  };
}

/** Length-prefixed, domain-separated hash of every field: no two different entries hash alike. */
export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  return bytesToHex(
    new Transcript('audit/entry/v1')
      .append('seq', e.seq)
      .append('at', e.at)
      .append('kind', e.kind)
      .append('actor', e.actor)
      .append('subject', e.subject)
      .append('details', e.details)
      .append('prevHash', e.prevHash)
      .digest(),
  );
}

function checkpointMessage(seq: number, hash: string): Uint8Array {
  return new Transcript('audit/checkpoint/v1').append('seq', seq).append('hash', hash).digest();
}
