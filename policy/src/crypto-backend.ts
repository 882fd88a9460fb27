// The two primitives @coffer/policy needs from a crypto library, behind one interface so that the
// package picks its implementation per platform (package.json "imports" → "#crypto"): Node's built-in
// OpenSSL on a signer node, noble's pure JavaScript anywhere else (a browser approver console).
// Nothing here decides validity on its own: keys.ts applies the same strict Ed25519 rules in front of
// either backend, so both accept exactly the same signatures.

export interface CryptoBackend<PublicKeyHandle> {
  readonly name: 'node:crypto' | 'noble';
  /** SHA-256 of bytes, or of the UTF-8 encoding of a string. */
  sha256(data: Uint8Array | string): Uint8Array;
  /** The same digest as lowercase hex. */
  sha256Hex(data: Uint8Array | string): string;
  /** Prepares a 32-byte Ed25519 public key that keys.ts has already checked (canonical, prime order). */
  ed25519PublicKey(publicKey: Uint8Array): PublicKeyHandle;
  /** Plain RFC 8032 verification of a 64-byte signature; false (never a throw) when it does not hold. */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: PublicKeyHandle): boolean;
}
