// Variable-base scalar multiplication for the base-OT sender, the hot loop of key generation:
// k·Q for a secret k and a fresh point Q, computed with the GLV split k = k1 + k2·λ over
// secp256k1's endomorphism φ(x, y) = (β·x, y), a 4-bit fixed window on both halves, and Jacobian
// coordinates (doubling dbl-2009-l, 2M + 5S; mixed addition madd-2007-bl, 7M + 4S, from the
// Explicit-Formulas Database) on raw bigints, with the 2 × 16 table entries normalised to affine
// by one batched inversion. Every window performs the same 4 doublings and 2 additions (a zero
// digit adds a throw-away entry), so the loop shape does not depend on k; only leading zero windows
// are skipped, which reveals at most the bit lengths of k1 and k2 (JavaScript bigint arithmetic is
// not constant-time to begin with). Results are checked against noble in the tests.
import { normalizeZ } from '@noble/curves/abstract/curve.js';
import { _splitEndoScalar } from '@noble/curves/abstract/weierstrass.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';

const Curve = secp256k1.Point;
type Point = InstanceType<typeof secp256k1.Point>;
const N = Curve.Fn.ORDER;
const p = Curve.Fp.ORDER;
const BETA = 0x7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501een;
const BASIS: [[bigint, bigint], [bigint, bigint]] = [
  [0x3086d221a7d46bcde86c90e49284eb15n, -0xe4437ed6010e88286f547fa90abfe4c3n],
  [0x114ca50f7a8e2f3f657c1108d9d44cfd8n, 0x3086d221a7d46bcde86c90e49284eb15n],
];
const WINDOWS = 32;

const MASK = (1n << 256n) - 1n;
const FOLD = (1n << 256n) - p; // 2^32 + 977

/** x mod p for 0 ≤ x < 2^520, using 2^256 ≡ 2^32 + 977 (two folds and one subtraction). */
function red(x: bigint): bigint {
  let r = (x & MASK) + (x >> 256n) * FOLD;
  r = (r & MASK) + (r >> 256n) * FOLD;
  return r >= p ? r - p : r;
}

/** Any integer mod p (table setup only). */
const m = (a: bigint) => {
  const r = a % p;
  return r < 0n ? r + p : r;
};

type Jac = { x: bigint; y: bigint; z: bigint; inf: boolean };
const P2 = 2n * p;
const P4 = 4n * p;
const P8 = 8n * p;

// Every intermediate below is kept non-negative (multiples of p are added before subtracting) so
// that red() applies; all inputs are reduced.
function double(P: Jac): Jac {
  if (P.inf) return P;
  const A = red(P.x * P.x);
  const B = red(P.y * P.y);
  const C = red(B * B);
  const xb = P.x + B;
  const D = red(2n * (xb * xb + P2 - A - C));
  const E = 3n * A;
  const F = red(E * E);
  const x = red(F + P2 - 2n * D);
  return { x, y: red(E * (D + p - x) + P8 - 8n * C), z: red(2n * P.y * P.z), inf: false };
}

/** P + (ax, ay) for an affine point (madd-2007-bl); same-x inputs fall back to doubling. */
function addAffine(P: Jac, ax: bigint, ay: bigint): Jac {
  if (P.inf) return { x: ax, y: ay, z: 1n, inf: false };
  const Z1Z1 = red(P.z * P.z);
  const U2 = red(ax * Z1Z1);
  const S2 = red(ay * red(P.z * Z1Z1));
  const H = red(U2 + p - P.x);
  const R = red(2n * (S2 + p - P.y));
  if (H === 0n) {
    // Same x: doubling or inverse. Not reached for the sender's random scalars; handled anyway.
    if (R === 0n) return double(P);
    return { x: 1n, y: 1n, z: 0n, inf: true };
  }
  const HH = red(H * H);
  const I = 4n * HH;
  const J = red(H * I);
  const V = red(P.x * I);
  const x = red(R * R + P4 - J - 2n * V);
  const yj = red(2n * P.y * J);
  const zh = P.z + H;
  return { x, y: red(R * (V + p - x) + p - yj), z: red(zh * zh + P2 - Z1Z1 - HH), inf: false };
}

/** k·Q for k in [1, n) and Q not the identity. */
export function jacobianGlvMultiply(Q: Point, k: bigint): Point {
  const { k1neg, k1, k2neg, k2 } = _splitEndoScalar(k, BASIS, N);
  // Table i·Q for i in 1..15 (noble, complete formulas), normalised together.
  const multiples: Point[] = [Q];
  for (let i = 2; i < 16; i++) multiples.push(multiples[i - 2]!.add(Q));
  const affine = normalizeZ(Curve, multiples).map((q) => ({ x: q.X, y: q.Y }));
  const t1x: bigint[] = [0n];
  const t1y: bigint[] = [0n];
  const t2x: bigint[] = [0n];
  const t2y: bigint[] = [0n];
  for (const a of affine) {
    t1x.push(a.x);
    t1y.push(k1neg ? m(-a.y) : a.y);
    t2x.push(m(a.x * BETA));
    t2y.push(k2neg ? m(-a.y) : a.y);
  }
  let acc: Jac = { x: 1n, y: 1n, z: 0n, inf: true };
  let sink: Jac = acc;
  for (let w = WINDOWS - 1; w >= 0; w--) {
    acc = double(double(double(double(acc))));
    const shift = BigInt(4 * w);
    const d1 = Number((k1 >> shift) & 15n);
    const d2 = Number((k2 >> shift) & 15n);
    if (d1) acc = addAffine(acc, t1x[d1]!, t1y[d1]!);
    else sink = addAffine(acc, t1x[1]!, t1y[1]!);
    if (d2) acc = addAffine(acc, t2x[d2]!, t2y[d2]!);
    else sink = addAffine(acc, t2x[1]!, t2y[1]!);
  }
  void sink;
  if (acc.inf) return Curve.ZERO;
  return toProjective(acc);
}

/** Jacobian (X, Y, Z), x = X/Z², y = Y/Z³, to noble's homogeneous (X·Z, Y, Z³): no inversion. */
function toProjective(P: Jac): Point {
  if (P.inf) return Curve.ZERO;
  return new Curve(red(P.x * P.z), P.y, red(red(P.z * P.z) * P.z));
}

// Fixed-point comb: T[w][d] = d·2^(W·w)·P in affine coordinates for windows of W bits, so that
// k·P is one mixed addition per window and no doubling. The partial sums stay below k < n, so no
// addition ever meets its own operand or its negation. G gets an 8-bit comb built on first use
// (32 × 255 points, about 40 ms); the base-OT receiver builds a 4-bit comb (64 × 15 points) for
// the sender's point A, which it multiplies by κ secret scalars.
export type Comb = { bits: number; x: bigint[]; y: bigint[] };

export function buildComb(point: Point, bits: number): Comb {
  const digits = (1 << bits) - 1;
  const windows = Math.ceil(256 / bits);
  const points: Point[] = [];
  let base = point;
  for (let w = 0; w < windows; w++) {
    let acc = base;
    for (let d = 1; d <= digits; d++) {
      points.push(acc);
      acc = acc.add(base);
    }
    base = acc; // 2^bits · base
  }
  const affine = normalizeZ(Curve, points);
  return { bits, x: affine.map((q) => q.X), y: affine.map((q) => q.Y) };
}

/** k·P from P's comb, k in [1, n), with a scalar-independent loop shape (zero digits add a throw-away entry). */
export function combMultiply(comb: Comb, k: bigint): Point {
  const digits = (1 << comb.bits) - 1;
  const mask = BigInt(digits);
  const windows = Math.ceil(256 / comb.bits);
  let acc: Jac = { x: 1n, y: 1n, z: 0n, inf: true };
  let sink: Jac = acc;
  for (let w = 0; w < windows; w++) {
    const d = Number((k >> BigInt(comb.bits * w)) & mask);
    const at = w * digits + (d === 0 ? 0 : d - 1);
    if (d) acc = addAffine(acc, comb.x[at]!, comb.y[at]!);
    else sink = addAffine(acc, comb.x[at]!, comb.y[at]!);
  }
  void sink;
  return toProjective(acc);
}

let baseComb: Comb | undefined;

/** k·G for k in [1, n). */
export function combBaseMultiply(k: bigint): Point {
  baseComb ??= buildComb(Curve.BASE, 8);
  return combMultiply(baseComb, k);
}
