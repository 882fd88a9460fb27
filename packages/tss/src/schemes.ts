// The threshold signature schemes Coffer implements and their fixed encodings.

export type SchemeId = 'ecdsa-secp256k1' | 'schnorr-secp256k1-tr' | 'eddsa-ed25519';

export const SCHEMES: readonly SchemeId[] = ['ecdsa-secp256k1', 'schnorr-secp256k1-tr', 'eddsa-ed25519'];

/** One-byte codes used in binary encodings; never renumber. */
export const SCHEME_CODE: Record<SchemeId, number> = {
  'ecdsa-secp256k1': 1,
  'schnorr-secp256k1-tr': 2,
  'eddsa-ed25519': 3,
};

export function schemeFromCode(code: number): SchemeId | undefined {
  return SCHEMES.find((s) => SCHEME_CODE[s] === code);
}

export function isSchemeId(value: unknown): value is SchemeId {
  return typeof value === 'string' && (SCHEMES as readonly string[]).includes(value);
}

/** Length of the public key as the chain expects it. */
export const PUBLIC_KEY_LENGTH: Record<SchemeId, number> = {
  'ecdsa-secp256k1': 33,
  'schnorr-secp256k1-tr': 32,
  'eddsa-ed25519': 32,
};

/**
 * The public key as the chain expects it, from the encoded group point: BIP340 x-only for Taproot
 * (the compressed point without its parity byte), the point itself otherwise. A key share's
 * publicKey must be exactly this (KeyShare checks it on every build and parse).
 */
export function chainPublicKey(scheme: SchemeId, groupPoint: Uint8Array): Uint8Array {
  return scheme === 'schnorr-secp256k1-tr' ? groupPoint.slice(1) : Uint8Array.from(groupPoint);
}

/** Length of one encoded group element (compressed secp256k1 point or Ed25519 point). */
export const POINT_LENGTH: Record<SchemeId, number> = {
  'ecdsa-secp256k1': 33,
  'schnorr-secp256k1-tr': 33,
  'eddsa-ed25519': 32,
};

/** Bounds on (t, n) accepted by key generation. */
export const MIN_PARTIES = 2;
export const MAX_PARTIES = 15;
