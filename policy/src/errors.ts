// One error type for the policy package: a stable code, the dotted field at fault and why.
export type PolicyErrorCode =
  | 'invalid-policy'
  | 'invalid-request'
  | 'invalid-approval'
  | 'invalid-price-snapshot'
  | 'invalid-signed-version'
  | 'non-canonical';

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly code: PolicyErrorCode;
  readonly field: string;
  readonly reason: string;

  constructor(code: PolicyErrorCode, field: string, reason: string) {
    super(`${code}: ${field} ${reason}`);
    this.code = code;
    this.field = field;
    this.reason = reason;
  }
}
