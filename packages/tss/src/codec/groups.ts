// Strict decoding of group elements and scalars (DESIGN §3 items 3 and 8): exact lengths,
// canonical scalars below the group order, points on the curve, never the identity, and Ed25519
// points in the prime-order subgroup (torsion-free), so no small-subgroup component can leak or
// cancel a share.
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, bytesToNumberLE } from '@noble/curves/utils.js';
import { DecodeError } from './bytes.ts';

export type Secp256k1Point = InstanceType<typeof secp256k1.Point>;
export type Ed25519Point = InstanceType<typeof ed25519.Point>;

export const SECP256K1_ORDER = secp256k1.Point.Fn.ORDER;
export const ED25519_ORDER = ed25519.Point.Fn.ORDER;

/** Big-endian 32-byte secp256k1 scalar in [0, n) (zero allowed only with allowZero). */
export function decodeSecpScalar(bytes: Uint8Array, field: string, opts?: { allowZero?: boolean }): bigint {
  return decodeScalar(bytes, field, SECP256K1_ORDER, bytesToNumberBE, opts);
}

/** 33-byte compressed secp256k1 point, on the curve and not the identity. */
export function decodeSecpPoint(bytes: Uint8Array, field: string): Secp256k1Point {
  if (bytes.length !== 33)
    throw new DecodeError(`${field}: point must be 33 bytes compressed, got ${bytes.length}`);
  let p: Secp256k1Point;
  try {
    p = secp256k1.Point.fromBytes(bytes);
    p.assertValidity();
  } catch {
    throw new DecodeError(`${field}: not a point on secp256k1`);
  }
  if (p.is0()) throw new DecodeError(`${field}: identity point`);
  return p;
}

/** Little-endian 32-byte Ed25519 scalar in [0, ℓ). */
export function decodeEdScalar(bytes: Uint8Array, field: string, opts?: { allowZero?: boolean }): bigint {
  return decodeScalar(bytes, field, ED25519_ORDER, bytesToNumberLE, opts);
}

function decodeScalar(
  bytes: Uint8Array,
  field: string,
  order: bigint,
  toNumber: (b: Uint8Array) => bigint,
  opts?: { allowZero?: boolean },
): bigint {
  if (bytes.length !== 32) throw new DecodeError(`${field}: scalar must be 32 bytes, got ${bytes.length}`);
  const v = toNumber(bytes);
  if (v >= order) throw new DecodeError(`${field}: scalar is not below the group order`);
  if (v === 0n && !opts?.allowZero) throw new DecodeError(`${field}: scalar is zero`);
  return v;
}

/** 32-byte Ed25519 point: canonical, on the curve, not the identity, prime order. */
export function decodeEdPoint(bytes: Uint8Array, field: string): Ed25519Point {
  if (bytes.length !== 32) throw new DecodeError(`${field}: point must be 32 bytes, got ${bytes.length}`);
  let p: Ed25519Point;
  try {
    p = ed25519.Point.fromBytes(bytes, false);
  } catch {
    throw new DecodeError(`${field}: not a point on Ed25519`);
  }
  if (p.is0()) throw new DecodeError(`${field}: identity point`);
  try {
    p.assertValidity();
  } catch {
    throw new DecodeError(`${field}: not a point on Ed25519`);
  }
  if (!p.isTorsionFree())
    throw new DecodeError(`${field}: point has a small-order component (not prime order)`);
  return p;
}
