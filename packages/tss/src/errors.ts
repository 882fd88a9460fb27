// Typed aborts for every protocol in this package. A failed check throws ProtocolAbort naming the
// parties to blame (1-based indices) where the protocol can name them, and an empty list where it
// cannot (for example an equivocated broadcast seen through echoes alone).

/** Stable reason codes; callers switch on these, never on message text. */
export type AbortReason =
  | 'malformed-message' // wire or payload bytes failed strict decoding
  | 'wrong-session' // message carries another session id
  | 'unexpected-message' // wrong round, wrong recipient, unknown sender, or from self
  | 'duplicate-message' // a second, different message from the same sender for the same round
  | 'broadcast-equivocation' // echoes show that parties saw different broadcasts
  | 'commitment-mismatch' // a revealed value does not open its commitment
  | 'invalid-proof' // a proof of knowledge failed
  | 'invalid-share' // a Feldman/VSS share check failed
  | 'invalid-signature-share' // a FROST signature share failed verification
  | 'inconsistent-result' // parties disagree on the final public output
  | 'invalid-parameters' // threshold, party set or input rejected before any message
  | 'ot-check-failed' // DKLs23 OT-extension consistency check (selective-failure attack)
  | 'multiplication-check-failed' // DKLs23 §5.1 multiplication consistency check
  | 'signature-check-failed' // final signature does not verify: key must be locked for review
  | 'presignature-reused' // a presignature finished twice or for another path
  | 'timeout' // expected messages never arrived
  | 'internal-error'; // a bug, not an attack: reported without blame

export class ProtocolAbort extends Error {
  override readonly name = 'ProtocolAbort';
  readonly reason: AbortReason;
  /** 1-based indices of the parties to blame; empty when blame cannot be assigned. */
  readonly culprits: number[];
  /** Peers whose pairwise setup must be discarded and who must be banned (DKLs23 §5 checks). */
  readonly banned: number[];

  constructor(
    reason: AbortReason,
    culprits: readonly number[],
    message: string,
    options?: { cause?: unknown; banned?: readonly number[] },
  ) {
    super(`${reason}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.culprits = [...new Set(culprits)].sort((a, b) => a - b);
    this.banned = [...new Set(options?.banned ?? [])].sort((a, b) => a - b);
  }
}

/** Thrown for caller mistakes (bad arguments) that are not protocol failures. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Error message of an unknown thrown value, without its stack. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
