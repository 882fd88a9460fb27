// The OTC service's one error family. Domain code throws OtcError with a stable `code`, a human message
// and, for bad input, the `field` at fault; the API turns it into {code, message, field?} with `status`.
// Nothing secret (tokens, webhook secrets, API keys) is ever put into a message.

export type OtcErrorCode =
  | 'invalid-request'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'idempotency-conflict'
  | 'invalid-transition'
  | 'stale-version'
  | 'quote-indicative'
  | 'quote-expired'
  | 'quote-used'
  | 'quote-invalid'
  | 'price-stale'
  | 'price-unavailable'
  | 'rate-limited'
  | 'insufficient-inventory'
  | 'insufficient-balance'
  | 'limit-exceeded'
  | 'kyc-tier'
  | 'jurisdiction'
  | 'screening-denied'
  | 'screening-unavailable'
  | 'frozen'
  | 'duplicate-bank-reference'
  | 'payment-mismatch'
  | 'webhook-invalid'
  | 'webhook-replayed'
  | 'unsupported-chain'
  | 'custody-error'
  | 'schema-too-new'
  | 'database-error'
  | 'internal';

const STATUS: Record<OtcErrorCode, number> = {
  'invalid-request': 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'idempotency-conflict': 409,
  'invalid-transition': 409,
  'stale-version': 409,
  'quote-indicative': 422,
  'quote-expired': 409,
  'quote-used': 409,
  'quote-invalid': 422,
  'price-stale': 503,
  'price-unavailable': 503,
  'rate-limited': 429,
  'insufficient-inventory': 409,
  'insufficient-balance': 409,
  'limit-exceeded': 422,
  'kyc-tier': 422,
  jurisdiction: 422,
  'screening-denied': 422,
  'screening-unavailable': 503,
  frozen: 423,
  'duplicate-bank-reference': 409,
  'payment-mismatch': 422,
  'webhook-invalid': 401,
  'webhook-replayed': 409,
  'unsupported-chain': 422,
  'custody-error': 502,
  'schema-too-new': 500,
  'database-error': 500,
  internal: 500,
};

export class OtcError extends Error {
  override readonly name = 'OtcError';
  readonly status: number;
  constructor(
    readonly code: OtcErrorCode,
    message: string,
    readonly field?: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
    this.status = STATUS[code];
  }

  toJSON(): Record<string, unknown> {
    // Details first, so none of them can replace the code, message or field.
    return {
      ...(this.extra ?? {}),
      code: this.code,
      message: this.message,
      ...(this.field !== undefined ? { field: this.field } : {}),
    };
  }
}

/** Bad input: names the field and the reason. */
export function invalid(field: string, reason: string): OtcError {
  return new OtcError('invalid-request', `${field}: ${reason}`, field);
}
