// The two prime-order groups Coffer signs in, behind one small interface, so that share checks,
// Lagrange interpolation and derivation are written once. Arithmetic is @noble/curves'.
import { mulAddUnsafe } from '@noble/curves/abstract/curve.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, numberToBytesBE, numberToBytesLE } from '@noble/curves/utils.js';
import { decodeEdPoint, decodeEdScalar, decodeSecpPoint, decodeSecpScalar } from './codec/groups.ts';
import type { SchemeId } from './schemes.ts';

export type GroupPoint = {
  add(other: GroupPoint): GroupPoint;
  multiply(scalar: bigint): GroupPoint;
  equals(other: GroupPoint): boolean;
  is0(): boolean;
  toBytes(): Uint8Array;
};

export type Group = {
  readonly name: 'secp256k1' | 'ed25519';
  readonly order: bigint;
  readonly pointLength: number;
  decodePoint(bytes: Uint8Array, field: string): GroupPoint;
  decodeScalar(bytes: Uint8Array, field: string, opts?: { allowZero?: boolean }): bigint;
  encodeScalar(value: bigint): Uint8Array;
  base(scalar: bigint): GroupPoint;
  zero(): GroupPoint;
  /**
   * Σ scalars[i]·points[i] for PUBLIC points and scalars only (noble's variable-time Strauss–Shamir
   * `mulAddUnsafe`): share-consistency checks on public shares with Lagrange coefficients.
   */
  publicCombination(points: readonly GroupPoint[], scalars: readonly bigint[]): GroupPoint;
};

const mod = (a: bigint, n: bigint) => {
  const r = a % n;
  return r >= 0n ? r : r + n;
};

export const secp256k1Group: Group = {
  name: 'secp256k1',
  order: secp256k1.Point.Fn.ORDER,
  pointLength: 33,
  decodePoint: (bytes, field) => wrapSecp(decodeSecpPoint(bytes, field)),
  decodeScalar: decodeSecpScalar,
  encodeScalar: (v) => numberToBytesBE(v, 32),
  base: (s) => wrapSecp(secp256k1.Point.BASE.multiply(s)),
  zero: () => wrapSecp(secp256k1.Point.ZERO),
  publicCombination: (points, scalars) =>
    wrapSecp(mulAddUnsafe(secp256k1.Point, points.map(unwrap<SecpPoint>), [...scalars])),
};

export const ed25519Group: Group = {
  name: 'ed25519',
  order: ed25519.Point.Fn.ORDER,
  pointLength: 32,
  decodePoint: (bytes, field) => wrapEd(decodeEdPoint(bytes, field)),
  decodeScalar: decodeEdScalar,
  encodeScalar: (v) => numberToBytesLE(v, 32),
  base: (s) => wrapEd(ed25519.Point.BASE.multiply(s)),
  zero: () => wrapEd(ed25519.Point.ZERO),
  publicCombination: (points, scalars) =>
    wrapEd(mulAddUnsafe(ed25519.Point, points.map(unwrap<EdPoint>), [...scalars])),
};

export function groupOf(scheme: SchemeId): Group {
  return scheme === 'eddsa-ed25519' ? ed25519Group : secp256k1Group;
}

type SecpPoint = InstanceType<typeof secp256k1.Point>;
type EdPoint = InstanceType<typeof ed25519.Point>;

function wrapSecp(p: SecpPoint): GroupPoint {
  return {
    add: (o) => wrapSecp(p.add(unwrap<SecpPoint>(o))),
    multiply: (s) => wrapSecp(s === 0n ? secp256k1.Point.ZERO : p.multiply(s)),
    equals: (o) => p.equals(unwrap<SecpPoint>(o)),
    is0: () => p.is0(),
    toBytes: () => p.toBytes(true),
    [RAW]: p,
  } as GroupPoint;
}

function wrapEd(p: EdPoint): GroupPoint {
  return {
    add: (o) => wrapEd(p.add(unwrap<EdPoint>(o))),
    multiply: (s) => wrapEd(s === 0n ? ed25519.Point.ZERO : p.multiply(s)),
    equals: (o) => p.equals(unwrap<EdPoint>(o)),
    is0: () => p.is0(),
    toBytes: () => p.toBytes(),
    [RAW]: p,
  } as GroupPoint;
}

const RAW = Symbol('raw-point');
function unwrap<P>(p: GroupPoint): P {
  return (p as unknown as Record<symbol, P>)[RAW]!;
}

/**
 * Lagrange basis polynomial ℓ_j for the index set `set`, evaluated at `at` (0 gives the usual
 * interpolation coefficient λ_j). Indices must be distinct and non-zero modulo the order.
 */
export function lagrangeCoefficient(order: bigint, j: number, set: readonly number[], at = 0): bigint {
  let num = 1n;
  let den = 1n;
  for (const m of set) {
    if (m === j) continue;
    num = mod(num * BigInt(at - m), order);
    den = mod(den * BigInt(j - m), order);
  }
  return mod(num * invert(den, order), order);
}

/** Modular inverse by Fermat (order is prime). */
export function invert(a: bigint, n: bigint): bigint {
  if (mod(a, n) === 0n) throw new RangeError('invert: zero has no inverse');
  let result = 1n;
  let base = mod(a, n);
  let e = n - 2n;
  while (e > 0n) {
    if (e & 1n) result = mod(result * base, n);
    base = mod(base * base, n);
    e >>= 1n;
  }
  return result;
}

export { bytesToNumberBE, mod };
