// Fixed-window GLV scalar multiplication for one secret scalar and a fresh point: the base-OT
// sender computes a·B_j for κ receiver points B_j it has never seen, where noble's constant-time
// ladder without precomputation walks 256 doublings per point. Splitting a = k1 + k2·λ with the
// secp256k1 endomorphism φ(x, y) = (β·x, y) halves the doubling chain; the loop shape (4 doublings
// and 2 table additions per window, identity included) does not depend on the scalar.
import { _splitEndoScalar } from '@noble/curves/abstract/weierstrass.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';

const P = secp256k1.Point;
type Point = InstanceType<typeof secp256k1.Point>;
const N = P.Fn.ORDER;

const BETA = 0x7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501een;
// Reduced GLV basis of secp256k1 (the same public constants noble uses).
const BASIS: [[bigint, bigint], [bigint, bigint]] = [
  [0x3086d221a7d46bcde86c90e49284eb15n, -0xe4437ed6010e88286f547fa90abfe4c3n],
  [0x114ca50f7a8e2f3f657c1108d9d44cfd8n, 0x3086d221a7d46bcde86c90e49284eb15n],
];
const WINDOWS = 32; // 128-bit halves, 4 bits per window

function endomorphism(p: Point): Point {
  return new P(P.Fp.mul(p.X, BETA), p.Y, p.Z);
}

/** k·Q for secret k in [1, n) and any point Q. */
export function glvMultiply(point: Point, k: bigint): Point {
  const { k1neg, k1, k2neg, k2 } = _splitEndoScalar(k, BASIS, N);
  const multiples: Point[] = [P.ZERO, point];
  for (let i = 2; i < 16; i++) multiples.push(multiples[i - 1]!.add(point));
  const t1 = multiples.map((m) => (k1neg ? m.negate() : m));
  const t2 = multiples.map((m) => endomorphism(k2neg ? m.negate() : m));
  let acc: Point = P.ZERO;
  for (let w = WINDOWS - 1; w >= 0; w--) {
    acc = acc.double().double().double().double();
    const shift = BigInt(4 * w);
    acc = acc.add(t1[Number((k1 >> shift) & 15n)]!).add(t2[Number((k2 >> shift) & 15n)]!);
  }
  return acc;
}
