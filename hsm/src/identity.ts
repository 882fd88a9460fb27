// The node's Ed25519 identity key (DESIGN §4): it signs every peer envelope and audit checkpoint, and
// peers pin its public key. It lives in the PKCS#11 token when the token supports EdDSA; otherwise its
// 32-byte seed is sealed under the KEK like a share and held here, in memory, only while the keystore
// is open.

import { createPrivateKey, type KeyObject, sign as nodeSign } from 'node:crypto';
import { randomBytes } from '@noble/ciphers/utils.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { HsmError } from './errors.ts';
import { inspectSymbol } from './secret.ts';

/** Where the identity's private key lives. */
export type IdentityStorage = 'token' | 'sealed';

export interface NodeIdentity {
  readonly algorithm: 'ed25519';
  readonly storage: IdentityStorage;
  /** The 32-byte Ed25519 public key (a copy on every read). */
  readonly publicKey: Uint8Array;
  /** A 64-byte Ed25519 signature (RFC 8032, pure Ed25519) over `message`. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** Context under which an identity seed is sealed; the "coffer:" prefix is reserved (see envelope.ts). */
export const IDENTITY_CONTEXT = 'coffer:identity:ed25519';

export function newIdentitySeed(): Uint8Array {
  return randomBytes(32);
}

export function publicKeyOfSeed(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410 §7): the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/**
 * An Ed25519 identity whose seed was unsealed into process memory. It signs with Node's OpenSSL
 * (RFC 8032 Ed25519, deterministic: the same signatures as noble, ~30x faster — it signs every peer
 * envelope); the seed is handed to OpenSSL once, as a private KeyObject.
 */
export class SealedIdentity implements NodeIdentity {
  readonly algorithm = 'ed25519';
  readonly storage = 'sealed';
  #key: KeyObject | undefined;
  readonly #publicKey: Uint8Array;

  /** Takes ownership of `seed` (zeroed once OpenSSL holds the key). */
  constructor(seed: Uint8Array) {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) {
      throw new HsmError('invalid-argument', 'Ed25519 identity seed must be 32 bytes');
    }
    this.#publicKey = ed25519.getPublicKey(seed);
    const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
    der.set(PKCS8_ED25519_PREFIX);
    der.set(seed, PKCS8_ED25519_PREFIX.length);
    try {
      this.#key = createPrivateKey({ key: Buffer.from(der.buffer), format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
      seed.fill(0);
    }
  }

  get publicKey(): Uint8Array {
    return this.#publicKey.slice();
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    if (this.#key === undefined)
      throw new HsmError('keystore-closed', 'identity key used after the keystore was closed');
    return new Uint8Array(nodeSign(null, message, this.#key));
  }

  /** Drops the key; later sign() calls fail with keystore-closed. */
  wipe(): void {
    this.#key = undefined;
  }

  toJSON(): Record<string, unknown> {
    return {
      algorithm: this.algorithm,
      storage: this.storage,
      publicKey: Buffer.from(this.#publicKey).toString('hex'),
    };
  }

  [inspectSymbol](): string {
    return `SealedIdentity(ed25519, public ${Buffer.from(this.#publicKey).toString('hex')}, seed <redacted>)`;
  }
}
