// Ed25519 signing keys for approvers, policy admins and price signers (tests and the future CLI).
// The secret never reaches JSON.stringify, util.inspect or a log line.
import { inspect } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

export class SigningKey {
  readonly #secretKey: Uint8Array;
  /** Ed25519 public key, 32 bytes hex (the form policy documents carry). */
  readonly publicKey: string;

  private constructor(secretKey: Uint8Array) {
    this.#secretKey = Uint8Array.from(secretKey);
    this.publicKey = bytesToHex(ed25519.getPublicKey(this.#secretKey));
  }

  /** A fresh key; `seed` (32 bytes) makes it deterministic, e.g. in tests. */
  static generate(seed?: Uint8Array): SigningKey {
    return new SigningKey(ed25519.utils.randomSecretKey(seed));
  }

  static fromSecretKey(secretKey: Uint8Array): SigningKey {
    return new SigningKey(secretKey);
  }

  sign(message: Uint8Array): Uint8Array {
    return ed25519.sign(message, this.#secretKey);
  }

  /** Explicit export for an encrypted key file; never implicit. */
  exportSecretKey(): Uint8Array {
    return Uint8Array.from(this.#secretKey);
  }

  toJSON(): { publicKey: string; secretKey: '<redacted>' } {
    return { publicKey: this.publicKey, secretKey: '<redacted>' };
  }

  [inspect.custom](): string {
    return `SigningKey { publicKey: '${this.publicKey}', secretKey: <redacted> }`;
  }
}

/** Verifies an Ed25519 signature; malformed keys or signatures are a plain `false`, never a throw. */
export function verifyEd25519(signatureHex: string, message: Uint8Array, publicKeyHex: string): boolean {
  if (!/^[0-9a-f]{128}$/.test(signatureHex) || !/^[0-9a-f]{64}$/.test(publicKeyHex)) return false;
  // Fixed-length key and signature first, then the message: the memo key is unambiguous.
  const memo = publicKeyHex + signatureHex + bytesToHex(message);
  if (verified.has(memo)) return true;
  let ok: boolean;
  try {
    ok = ed25519.verify(hexToBytes(signatureHex), message, hexToBytes(publicKeyHex), { zip215: false });
  } catch {
    ok = false;
  }
  if (ok) {
    // Bounded memo of successful verifications: a node re-evaluates the same request (same approvals,
    // same price snapshot) as approvals arrive; verification dominates evaluation time otherwise.
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.values().next().value as string);
    verified.add(memo);
  }
  return ok;
}

const VERIFIED_MAX = 4096;
const verified = new Set<string>();

/** Domain tag ‖ 0x00 ‖ payload: a signature of one kind can never be replayed as another. */
export function domainMessage(domain: string, payload: Uint8Array): Uint8Array {
  const tag = utf8ToBytes(domain);
  const out = new Uint8Array(tag.length + 1 + payload.length);
  out.set(tag, 0);
  out.set(payload, tag.length + 1);
  return out;
}
