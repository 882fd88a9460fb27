// Scalar and point helpers over secp256k1 shared by every DKLs23 layer. Secret scalars are only
// multiplied with noble's constant-shape path (`Point.multiply`, which uses a point's wNAF table when
// `precompute` built one); `multiplyUnsafe` is reserved for public scalars and points (Feldman
// checks, proof verification). All curve arithmetic is noble's (DESIGN §3).
import { mulAddUnsafe, normalizeZ } from '@noble/curves/abstract/curve.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import { sha256 } from '#hash';
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
  return bytes32ToBigint(bytes) % N;
}

/** Big-endian 32 bytes to an integer, by 64-bit words (hot path of the multiplication). */
export function bytes32ToBigint(bytes: Uint8Array): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 32);
  return (
    (view.getBigUint64(0) << 192n) |
    (view.getBigUint64(8) << 128n) |
    (view.getBigUint64(16) << 64n) |
    view.getBigUint64(24)
  );
}

const MASK64 = (1n << 64n) - 1n;

/** Big-endian 32 bytes at `offset` of a DataView, as an integer. */
export function readBig256(view: DataView, offset: number): bigint {
  return (
    (view.getBigUint64(offset) << 192n) |
    (view.getBigUint64(offset + 8) << 128n) |
    (view.getBigUint64(offset + 16) << 64n) |
    view.getBigUint64(offset + 24)
  );
}

/** Writes a scalar (0 ≤ v < 2^256) big-endian at `offset` of a DataView. */
export function writeBig256(view: DataView, offset: number, v: bigint): void {
  view.setBigUint64(offset, (v >> 192n) & MASK64);
  view.setBigUint64(offset + 8, (v >> 128n) & MASK64);
  view.setBigUint64(offset + 16, (v >> 64n) & MASK64);
  view.setBigUint64(offset + 24, v & MASK64);
}

export function scalarBytes(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, (v >> 192n) & MASK64);
  view.setBigUint64(8, (v >> 128n) & MASK64);
  view.setBigUint64(16, (v >> 64n) & MASK64);
  view.setBigUint64(24, v & MASK64);
  return out;
}

export function hashToScalar(data: Uint8Array): bigint {
  return bytesToScalar(sha256(data));
}

/** k·G for a secret scalar (noble's precomputed base table); zero gives the identity. */
export function baseMul(k: bigint): Point {
  const r = mod(k);
  return r === 0n ? Point.ZERO : Point.BASE.multiply(r);
}

/**
 * k·P for a secret scalar and any point (noble's constant-shape `multiply`; uses P's wNAF table
 * if `P.precompute(w)` built one). Zero or the identity gives the identity.
 */
export function secretMul(p: Point, k: bigint): Point {
  const r = mod(k);
  return r === 0n || p.is0() ? Point.ZERO : p.multiply(r);
}

/** k·P where both k and P are public (variable time). */
export function publicMul(p: Point, k: bigint): Point {
  return p.multiplyUnsafe(mod(k));
}

/**
 * k·P for a short public scalar (a 128-bit check challenge) and a public point: noble's plain
 * width-4 wNAF walk over k's bits. `multiplyUnsafe` splits k with the endomorphism, which gives no
 * shorter walk for a k that is already half-width, and costs more here.
 */
export function publicMulShort(p: Point, k: bigint): Point {
  return mulAddUnsafe(Point, [p], [k]);
}

export function pointBytes(p: Point): Uint8Array {
  return p.toBytes(true);
}

/**
 * Compressed encodings of many points with one field inversion (Montgomery's trick through noble's
 * normalizeZ); the identity encodes as 33 zero bytes (only ever hashed, never sent).
 */
export function pointsBytes(points: readonly Point[]): Uint8Array[] {
  const finite = points.filter((p) => !p.is0());
  const normalized = normalizeZ(Point, finite);
  let k = 0;
  return points.map((p) => (p.is0() ? new Uint8Array(33) : normalized[k++]!.toBytes(true)));
}

export { bytesToNumberBE, numberToBytesBE };
