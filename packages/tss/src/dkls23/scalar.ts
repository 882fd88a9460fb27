// Scalar and point helpers over secp256k1 shared by every DKLs23 layer. Secret scalars are only
// multiplied with the constant-time ladder (`Point.multiply`); `multiplyUnsafe` is reserved for
// public scalars and points (Feldman checks, proof verification).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Rng } from '../rng.ts';

export const Point = secp256k1.Point;
export type Point = InstanceType<typeof secp256k1.Point>;
export const N = Point.Fn.ORDER;

export function mod(a: bigint): bigint {
  const r = a % N;
  return r >= 0n ? r : r + N;
}

/** Uniform non-zero scalar: 48 random bytes reduced mod n (bias below 2^-128). */
export function randomScalar(rng: Rng): bigint {
  for (;;) {
    const v = bytesToNumberBE(rng(48)) % N;
    if (v !== 0n) return v;
  }
}

/**
 * 32 bytes read as a scalar mod n. secp256k1's order is within 2^-128 of 2^256, so a uniform
 * 256-bit string reduced mod n is statistically uniform.
 */
export function bytesToScalar(bytes: Uint8Array): bigint {
  return bytesToNumberBE(bytes) % N;
}

export function scalarBytes(v: bigint): Uint8Array {
  return numberToBytesBE(v, 32);
}

export function hashToScalar(data: Uint8Array): bigint {
  return bytesToScalar(sha256(data));
}

/** k·G for a secret scalar (constant-time base-point table); zero gives the identity. */
export function baseMul(k: bigint): Point {
  return k === 0n ? Point.ZERO : Point.BASE.multiply(k);
}

/** k·P for a secret scalar and any point (constant-time ladder). */
export function secretMul(p: Point, k: bigint): Point {
  return k === 0n || p.is0() ? Point.ZERO : p.multiply(k);
}

/** k·P where both k and P are public (variable time). */
export function publicMul(p: Point, k: bigint): Point {
  return p.multiplyUnsafe(mod(k));
}

export function pointBytes(p: Point): Uint8Array {
  return p.toBytes(true);
}

export { bytesToNumberBE, numberToBytesBE };
