// Ed25519 signing keys for approvers, policy admins and price signers (tests and the future CLI).
// The secret never reaches JSON.stringify, util.inspect or a log line.

import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, equalBytes } from '@noble/curves/utils.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { backend } from '#crypto';
import type { CryptoBackend } from './crypto-backend.ts';

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

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `SigningKey { publicKey: '${this.publicKey}', secretKey: <redacted> }`;
  }
}

/** Ed25519 group order L: a signature whose S is not below it is non-canonical (malleable). */
const ORDER = ed25519.Point.Fn.ORDER;
const HEX_SIGNATURE = /^[0-9a-f]{128}$/;
const HEX_PUBLIC_KEY = /^[0-9a-f]{64}$/;
const KEYS_MAX = 1024;
const VERIFIED_MAX = 4096;
const PER_SIGNATURE_MAX = 4;

/**
 * A public key counts only if it is a canonical encoding of a point of prime order: not small order (the
 * identity and the other seven torsion points verify forged signatures), no small-order component
 * (OpenSSL's cofactorless and noble's cofactored equations would disagree on it).
 */
function primeOrderPublicKey(publicKey: Uint8Array): boolean {
  try {
    const point = ed25519.Point.fromBytes(publicKey, false);
    return !point.isSmallOrder() && point.isTorsionFree();
  } catch {
    return false;
  }
}

export type Ed25519Verifier = (signatureHex: string, message: Uint8Array, publicKeyHex: string) => boolean;

/**
 * Strict Ed25519 verification over a backend: lowercase hex of exact length, S < L, a prime-order public
 * key, then the backend's RFC 8032 check. The same rules in front of either backend, so the Node and the
 * browser build accept the same signatures. Malformed input is a plain `false`, never a throw.
 */
export function ed25519Verifier<PublicKeyHandle>(backend: CryptoBackend<PublicKeyHandle>): Ed25519Verifier {
  // Per public key (hex): its prepared backend handle, or null when the key is refused. A node sees the
  // few keys of its policy over and over; checking a point costs more than a verification.
  const keys = new Map<string, PublicKeyHandle | null>();
  // Successful verifications, by signature, each with the key and the message it verified under: a
  // node re-evaluates the same request (same approvals, same price snapshot) as approvals arrive. A hit
  // needs the same signature, key and message bytes. Bounded; the oldest signature goes first.
  const verified = new Map<string, { publicKeyHex: string; message: Uint8Array }[]>();
  const memoised = (signatureHex: string, message: Uint8Array, publicKeyHex: string): boolean =>
    verified
      .get(signatureHex)
      ?.some((v) => v.publicKeyHex === publicKeyHex && equalBytes(v.message, message)) ?? false;
  const remember = (signatureHex: string, message: Uint8Array, publicKeyHex: string): void => {
    const entry = { publicKeyHex, message: Uint8Array.from(message) };
    const known = verified.get(signatureHex);
    if (known !== undefined) {
      if (known.length < PER_SIGNATURE_MAX) known.push(entry);
      return;
    }
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string);
    verified.set(signatureHex, [entry]);
  };
  const keyHandle = (publicKeyHex: string): PublicKeyHandle | null => {
    const known = keys.get(publicKeyHex);
    if (known !== undefined) return known;
    const bytes = hexToBytes(publicKeyHex);
    const handle = primeOrderPublicKey(bytes) ? backend.ed25519PublicKey(bytes) : null;
    if (keys.size >= KEYS_MAX) keys.delete(keys.keys().next().value as string);
    keys.set(publicKeyHex, handle);
    return handle;
  };
  return (signatureHex, message, publicKeyHex) => {
    if (!HEX_SIGNATURE.test(signatureHex) || !HEX_PUBLIC_KEY.test(publicKeyHex)) return false;
    if (memoised(signatureHex, message, publicKeyHex)) return true;
    const signature = hexToBytes(signatureHex);
    if (bytesToNumberLE(signature.subarray(32)) >= ORDER) return false;
    const handle = keyHandle(publicKeyHex);
    if (handle === null || !backend.ed25519Verify(signature, message, handle)) return false;
    remember(signatureHex, message, publicKeyHex);
    return true;
  };
}

/** Verifies an Ed25519 signature with this platform's backend (`#crypto`) under the strict rules above. */
export const verifyEd25519: Ed25519Verifier = ed25519Verifier(backend);

/**
 * Remembers signed objects whose signature verified, by signature hex, with everything that signature
 * covered (every signed field and the signer's key): a node re-evaluates the same request, with the same
 * approvals and price snapshot, as approvals arrive. `same` must compare every signed input; a hit then
 * stands for a verification over the very same message under the very same key. Bounded; the oldest
 * entry goes first.
 */
export class VerifiedMemo<Signed> {
  readonly #entries = new Map<string, Signed>();

  constructor(
    private readonly same: (a: Signed, b: Signed) => boolean,
    private readonly max = 4096,
  ) {}

  /** The remembered entry for this signature over exactly `signed`, if any. */
  find(signatureHex: string, signed: Signed): Signed | undefined {
    const known = this.#entries.get(signatureHex);
    return known !== undefined && this.same(known, signed) ? known : undefined;
  }

  /** Call only after the signature verified over exactly `signed`. */
  add(signatureHex: string, signed: Signed): void {
    if (!this.#entries.has(signatureHex) && this.#entries.size >= this.max) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
    this.#entries.set(signatureHex, signed);
  }
}

/** Domain tag ‖ 0x00 ‖ payload: a signature of one kind can never be replayed as another. */
export function domainMessage(domain: string, payload: Uint8Array): Uint8Array {
  const tag = utf8ToBytes(domain);
  const out = new Uint8Array(tag.length + 1 + payload.length);
  out.set(tag, 0);
  out.set(payload, tag.length + 1);
  return out;
}
