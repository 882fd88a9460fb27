// Base oblivious transfer for the pairwise setup (DKLs23 p. 30: the base OTs that seed the
// SoftSpokenOT extension need only endemic security). κ random OTs per direction, one message each
// way.
//
// Protocol: Masny–Rindal, "Endemic Oblivious Transfer" (ePrint 2019/706), Fig. 8 — 1-out-of-2
// endemic OT from a two-message key agreement in the random oracle model — with Diffie–Hellman on
// secp256k1 as the key agreement. H_G, Fig. 8's random oracle onto the space of key-agreement
// messages (here the group), is RFC 9380 hash_to_curve (noble's secp256k1_hasher) on fixed-length
// fields that bind the OT session id and index:
//
//   sender:   a ← Z_q, A = a·G (its key-agreement message), plus a Schnorr proof of knowledge of a
//             bound to the OT session id (not in Fig. 8)
//   receiver: Fig. 8 receiver step, for each j with choice c_j: key-agreement message b_j·G,
//             R_{1−c} uniform, R_c = b_j·G − H_G(sid, j, R_{1−c}); sends (R_0, R_1);
//             key = H(sid, j, A, R_0, R_1, b_j·A)
//   sender:   Fig. 8 sender step: X_i = R_i + H_G(sid, j, R_{1−i}) (the receiver's key-agreement
//             message on branch i); rejects X_i = O and X_0 = X_1;
//             k_i = H(sid, j, A, R_0, R_1, a·X_i) for i = 0, 1
//
// Receiver privacy: R_0 and R_1 are independent uniform points whatever c is (b_j is uniform), so
// the sender learns nothing about c. Sender privacy: X_{1−c} = R_{1−c} + H_G(R_c) is a random-oracle
// output the receiver cannot choose (changing R_c changes it), so knowing the other key means
// computing a·X for a point X of unknown discrete logarithm (CDH).
//
// Intentional divergences from Fig. 8. (1) Fig. 8's sender answers each branch's key-agreement
// message separately; Diffie–Hellman messages do not depend on each other, so here one A = a·G,
// sent first, serves both branches and all κ OTs (the single-round DDH-based OT of the paper's
// abstract; libOTe's MasnyRindal does the same). With one a for both branches, R_0 = R_1 would give
// the sender k_0 = k_1, whereas endemic security keeps its unchosen key independent of the chosen
// one: hence the X_0 ≠ X_1 check. (2) The OT keys hash the session id, index and whole transcript.
// (3) The sender proves knowledge of a (Schnorr, bound to sid), as the previous Chou–Orlandi setup
// did; it costs one proof per pair and rejects an A replayed from another OT session. Outputs only
// seed the OT extension, whose consistency check (ot/extension.ts) catches a sender that hands out
// inconsistent seeds.
//
// Cost: the sender's two variable-base secret-scalar products per OT (noble's blinded `multiply`)
// dominate key generation.

import { secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { ByteReader, ByteWriter, DecodeError } from '../../codec/bytes.ts';
import { decodeSecpPoint, decodeSecpScalar } from '../../codec/groups.ts';
import type { Rng } from '../../rng.ts';
import { Transcript } from '../../transcript.ts';
import { KAPPA, POINT_BYTES } from '../params.ts';
import {
  baseMul,
  hashToScalar,
  mod,
  type Point,
  pointBytes,
  pointsBytes,
  publicMul,
  randomScalar,
  scalarBytes,
  secretMul,
} from '../scalar.ts';
import { prefixedXof } from '../xof.ts';

/** SHAKE256 domain byte (xof.ts) of the base-OT key derivation. */
const KEY_DOMAIN = 0x0e;

export type BaseOtSenderState = { a: bigint; A: Point; AB: Uint8Array };
export type BaseOtSenderOutput = { keys0: Uint8Array[]; keys1: Uint8Array[] };

const SENDER_MESSAGE_BYTES = POINT_BYTES * 2 + 32;
export const RECEIVER_MESSAGE_BYTES = 2 * POINT_BYTES * KAPPA;

/** RFC 9380 domain separation tag of H_G (ePrint 2019/706 Fig. 8's random oracle onto the group). */
const HASH_TO_GROUP_DST = 'coffer/dkls23/base-ot/mr19/H_G';

function proofChallenge(sid: Uint8Array, A: Uint8Array, K: Uint8Array): bigint {
  return hashToScalar(
    new Transcript('dkls23/base-ot/pok').append('sid', sid).append('A', A).append('K', K).digest(),
  );
}

/**
 * H_G(sid, j, R) of ePrint 2019/706 Fig. 8: the random oracle onto the group, on fixed-length fields
 * (32-byte sid, 2-byte j, 33-byte compressed R).
 */
function hashToGroup(sid: Uint8Array, j: number, R: Uint8Array): Point {
  const input = new Uint8Array(32 + 2 + POINT_BYTES);
  input.set(sid.subarray(0, 32));
  input[32] = j >>> 8;
  input[33] = j & 0xff;
  input.set(R, 34);
  return secp256k1_hasher.hashToCurve(input, { DST: HASH_TO_GROUP_DST });
}

/** Key of OT j: SHAKE256(0x0e ‖ sid ‖ j ‖ A ‖ R_0 ‖ R_1 ‖ shared), fixed-length fields in a fixed order. */
function otKeys(
  sid: Uint8Array,
  A: Uint8Array,
  Rs: readonly (readonly [Uint8Array, Uint8Array])[],
  shared: readonly Uint8Array[],
): Uint8Array[] {
  const xof = prefixedXof(sid, KEY_DOMAIN, 32);
  const buf = new Uint8Array(2 + POINT_BYTES * 4);
  buf.set(A, 2);
  return shared.map((s, j) => {
    buf[0] = j >>> 8;
    buf[1] = j & 0xff;
    buf.set(Rs[j]![0], 2 + POINT_BYTES);
    buf.set(Rs[j]![1], 2 + 2 * POINT_BYTES);
    buf.set(s, 2 + 3 * POINT_BYTES);
    return xof(buf);
  });
}

/** Sender, step 1: A = a·G and a proof of knowledge of a bound to `sid` (32 bytes). */
export function baseOtSenderStart(
  rng: Rng,
  sid: Uint8Array,
): { state: BaseOtSenderState; message: Uint8Array } {
  const a = randomScalar(rng);
  const A = baseMul(a);
  const AB = pointBytes(A);
  const k = randomScalar(rng);
  const K = pointBytes(baseMul(k));
  const z = mod(k + proofChallenge(sid, AB, K) * a);
  const message = new ByteWriter().raw(AB).raw(K).raw(scalarBytes(z)).finish();
  return { state: { a, A, AB }, message };
}

/** Receiver: verifies the sender's proof, then answers κ OTs with the given choice bits. */
export function baseOtReceive(
  rng: Rng,
  sid: Uint8Array,
  senderMessage: Uint8Array,
  choices: Uint8Array,
): { message: Uint8Array; keys: Uint8Array[] } {
  if (senderMessage.length !== SENDER_MESSAGE_BYTES)
    throw new DecodeError(`base OT sender message: expected ${SENDER_MESSAGE_BYTES} bytes`);
  const r = new ByteReader(senderMessage);
  const AB = r.raw(POINT_BYTES, 'base OT A');
  const KB = r.raw(POINT_BYTES, 'base OT proof K');
  const A = decodeSecpPoint(AB, 'base OT A');
  const K = decodeSecpPoint(KB, 'base OT proof K');
  const z = decodeSecpScalar(r.raw(32, 'base OT proof z'), 'base OT proof z', { allowZero: true });
  r.end('base OT sender message');
  // Schnorr verification z·G = K + e·A (public data only).
  if (!baseMul(z).equals(K.add(publicMul(A, proofChallenge(sid, AB, KB)))))
    throw new BaseOtProofError('base OT sender proof of knowledge does not verify');
  // κ secret scalars times the same point A: noble's per-point wNAF table for A pays off
  // (`precompute`; noble keys the table by this Point object and builds it on first use).
  A.precompute(8);
  const Rs: [Point, Point][] = [];
  const shared: Point[] = [];
  for (let j = 0; j < KAPPA; j++) {
    const c = (choices[j >> 3]! >>> (j & 7)) & 1;
    // ePrint 2019/706 Fig. 8, receiver: R_{1−c} uniform in the group, R_c = b·G − H_G(R_{1−c}).
    const other = baseMul(randomScalar(rng));
    const hOther = hashToGroup(sid, j, pointBytes(other));
    let b: bigint;
    let chosen: Point;
    do {
      b = randomScalar(rng);
      chosen = baseMul(b).subtract(hOther);
    } while (chosen.is0());
    Rs.push(c ? [other, chosen] : [chosen, other]);
    // The receiver's key: b·A = a·(R_c + H_G(R_{1−c})).
    shared.push(secretMul(A, b));
  }
  const encoded = pointsBytes(Rs.flat());
  const out = new Uint8Array(RECEIVER_MESSAGE_BYTES);
  encoded.forEach((RB, k) => {
    out.set(RB, k * POINT_BYTES);
  });
  const pairs = Rs.map((_, j) => [encoded[2 * j]!, encoded[2 * j + 1]!] as const);
  return { message: out, keys: otKeys(sid, AB, pairs, pointsBytes(shared)) };
}

/** Sender, step 2: both keys of every OT from the receiver's points. */
export function baseOtSenderFinish(
  state: BaseOtSenderState,
  sid: Uint8Array,
  receiverMessage: Uint8Array,
): BaseOtSenderOutput {
  if (receiverMessage.length !== RECEIVER_MESSAGE_BYTES)
    throw new DecodeError(`base OT receiver message: expected ${RECEIVER_MESSAGE_BYTES} bytes`);
  const pairs: (readonly [Uint8Array, Uint8Array])[] = [];
  const shared0: Point[] = [];
  const shared1: Point[] = [];
  for (let j = 0; j < KAPPA; j++) {
    const R0B = receiverMessage.subarray(2 * j * POINT_BYTES, (2 * j + 1) * POINT_BYTES);
    const R1B = receiverMessage.subarray((2 * j + 1) * POINT_BYTES, (2 * j + 2) * POINT_BYTES);
    const R0 = decodeSecpPoint(R0B, `base OT R_0[${j}]`);
    const R1 = decodeSecpPoint(R1B, `base OT R_1[${j}]`);
    // ePrint 2019/706 Fig. 8, sender: X_i = R_i + H_G(R_{1−i}), k_i from a·X_i.
    const X0 = R0.add(hashToGroup(sid, j, R1B));
    const X1 = R1.add(hashToGroup(sid, j, R0B));
    if (X0.is0() || X1.is0()) throw new DecodeError(`base OT R[${j}]: R_i + H_G(R_{1−i}) is the identity`);
    // One a serves both branches (divergence 1 above): X_0 = X_1 would make k_0 = k_1.
    if (X0.equals(X1)) throw new DecodeError(`base OT R[${j}]: R_0 + H_G(R_1) = R_1 + H_G(R_0)`);
    pairs.push([R0B, R1B]);
    shared0.push(secretMul(X0, state.a));
    shared1.push(secretMul(X1, state.a));
  }
  return {
    keys0: otKeys(sid, state.AB, pairs, pointsBytes(shared0)),
    keys1: otKeys(sid, state.AB, pairs, pointsBytes(shared1)),
  };
}

export class BaseOtProofError extends Error {
  override readonly name = 'BaseOtProofError';
}
