// The node's Ed25519 identity key (DESIGN §4): it signs every peer envelope and audit checkpoint, and
// peers pin its public key. It lives in the PKCS#11 token when the token supports EdDSA; otherwise its
// 32-byte seed is sealed under the KEK like a share and held here, in memory, only while the keystore
// is open.

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

/** An Ed25519 identity whose seed was unsealed into process memory. */
export class SealedIdentity implements NodeIdentity {
  readonly algorithm = 'ed25519';
  readonly storage = 'sealed';
  #seed: Uint8Array | undefined;
  readonly #publicKey: Uint8Array;

  /** Takes ownership of `seed`. */
  constructor(seed: Uint8Array) {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) {
      throw new HsmError('invalid-argument', 'Ed25519 identity seed must be 32 bytes');
    }
    this.#seed = seed;
    this.#publicKey = ed25519.getPublicKey(seed);
  }

  get publicKey(): Uint8Array {
    return this.#publicKey.slice();
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    if (this.#seed === undefined)
      throw new HsmError('keystore-closed', 'identity key used after the keystore was closed');
    return ed25519.sign(message, this.#seed);
  }

  /** Zeroes the seed; later sign() calls fail with keystore-closed. */
  wipe(): void {
    this.#seed?.fill(0);
    this.#seed = undefined;
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
