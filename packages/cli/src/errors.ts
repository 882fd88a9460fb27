// Errors of the approver commands, in a module without dependencies so the CLI can classify them
// (exit codes) without loading the chain, policy and HSM libraries for every command.

/** A key file that cannot be used: its code says why, the message names the file and the field. */
export class ApproverKeyError extends Error {
  override readonly name = 'ApproverKeyError';
  constructor(
    readonly code:
      | 'key-file-exists'
      | 'key-file-unreadable'
      | 'key-file-corrupt'
      | 'wrong-passphrase'
      | 'passphrase-unavailable'
      | 'invalid-argument',
    message: string,
  ) {
    super(message);
  }
}

export type RequestCheckCode = 'incomplete-request' | 'undecodable' | 'intent-mismatch' | 'digest-mismatch';

/** The node's view does not hold up: `field` names what differs or is missing. */
export class RequestCheckError extends Error {
  override readonly name = 'RequestCheckError';
  constructor(
    readonly code: RequestCheckCode,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** The approver declined at the prompt. */
export class NotConfirmed extends Error {
  override readonly name = 'NotConfirmed';
  readonly code = 'not-confirmed';
}

/** The request is past the point where an approval or veto can count (signed, denied, cancelled, …). */
export class NotWaiting extends Error {
  override readonly name = 'NotWaiting';
  readonly code = 'not-waiting';
}
