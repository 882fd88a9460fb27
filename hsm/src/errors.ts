// Typed errors for the key-encryption-key backends. Every failure carries a stable `code` that callers
// (the signer node, the CLI) switch on, and a message that names what is wrong: which token label,
// which environment variable, which file, which blob field. Messages never contain key material,
// PINs or passphrases, and no third-party error object is attached as `cause` (it could carry buffers).

export type HsmErrorCode =
  | 'invalid-argument' // a caller mistake: empty context, bad label, option out of range
  | 'library-not-found' // the PKCS#11 module (or softhsm2-util) cannot be loaded
  | 'token-not-found' // no token with the configured label
  | 'token-ambiguous' // several tokens carry the configured label
  | 'secret-unavailable' // the PIN / passphrase environment variable or file is missing or empty
  | 'wrong-pin' // the token rejected the PIN
  | 'pin-locked' // the token locked the user PIN
  | 'wrong-passphrase' // the software keystore's key check failed
  | 'keystore-not-found' // software keystore file absent
  | 'keystore-corrupt' // software keystore file fails validation
  | 'kek-not-found' // no key-encryption key with the configured label
  | 'kek-not-protected' // the KEK object is extractable, not sensitive, or not AES-256
  | 'identity-not-found' // no node identity key with the configured label
  | 'already-initialized' // init would overwrite an existing KEK or identity
  | 'unsupported-mechanism' // the token lacks a mechanism that was explicitly required
  | 'malformed-blob' // sealed blob fails strict decoding
  | 'unsupported-blob-version' // sealed blob from a newer (or unknown) format version
  | 'wrong-backend' // blob sealed by the other backend kind
  | 'wrong-kek' // blob sealed under another key-encryption key
  | 'context-mismatch' // blob sealed for another context (another share, another key)
  | 'blob-authentication-failed' // AEAD check failed: the blob was altered
  | 'keystore-closed' // used after close()
  | 'token-error'; // any other PKCS#11 failure, with the CKR_ name

export class HsmError extends Error {
  override readonly name = 'HsmError';
  readonly code: HsmErrorCode;

  constructor(code: HsmErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }

  toJSON(): { name: string; code: HsmErrorCode; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** True when `error` is an HsmError with the given code (narrowing helper for callers). */
export function isHsmError(error: unknown, code?: HsmErrorCode): error is HsmError {
  return error instanceof HsmError && (code === undefined || error.code === code);
}
