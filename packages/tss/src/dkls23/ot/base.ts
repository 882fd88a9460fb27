// Base oblivious transfer for the pairwise setup (DKLs23 p. 30: an endemic OT seeds the OT
// extension). κ random OTs per direction, in one message each way:
//
//   sender:   a ← Z_q, A = a·G, plus a Schnorr proof of knowledge of a bound to the OT session id
//   receiver: for each j with choice c_j: b_j ← Z_q, B_j = b_j·G + c_j·A;   key = H(sid, j, A, B_j, b_j·A)
//   sender:   k0_j = H(sid, j, A, B_j, a·B_j),  k1_j = H(sid, j, A, B_j, a·B_j − a·A)
//
// H is TurboSHAKE256 over fixed-length fields. This is the batched Chou–Orlandi "simplest OT" in
// its endemic (random-output) form, as used by DKLs18 (Protocol 7, "VSOT") for the DKLs family.
// Intentional divergence from DKLs18: the verification rounds of VSOT are omitted — the outputs
// only seed the OT extension, whose consistency check (ot/extension.ts) catches a base-OT sender
// that hands out inconsistent seeds. Receiver privacy is
// perfect (B_j is uniform whatever c_j is); a receiver learning both keys of one OT would compute
// a²·G from A, i.e. solve CDH. The sender's one variable-base scalar multiplication per OT is the
// minimum for any Diffie–Hellman OT and the dominant cost of key generation.
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

/** TurboSHAKE256 domain byte of the base-OT key derivation. */
const KEY_DOMAIN = 0x0e;

export type BaseOtSenderState = { a: bigint; A: Point; AB: Uint8Array };
export type BaseOtSenderOutput = { keys0: Uint8Array[]; keys1: Uint8Array[] };

const SENDER_MESSAGE_BYTES = POINT_BYTES * 2 + 32;
export const RECEIVER_MESSAGE_BYTES = POINT_BYTES * KAPPA;

function proofChallenge(sid: Uint8Array, A: Uint8Array, K: Uint8Array): bigint {
  return hashToScalar(
    new Transcript('dkls23/base-ot/pok').append('sid', sid).append('A', A).append('K', K).digest(),
  );
}

/** Key of OT j: TurboSHAKE256(sid ‖ j ‖ A ‖ B_j ‖ shared), fixed-length fields in a fixed order. */
function otKeys(
  sid: Uint8Array,
  A: Uint8Array,
  Bs: readonly Uint8Array[],
  shared: readonly Uint8Array[],
): Uint8Array[] {
  const xof = prefixedXof(sid, KEY_DOMAIN, 32);
  const buf = new Uint8Array(2 + POINT_BYTES * 3);
  buf.set(A, 2);
  return shared.map((s, j) => {
    buf[0] = j >>> 8;
    buf[1] = j & 0xff;
    buf.set(Bs[j]!, 2 + POINT_BYTES);
    buf.set(s, 2 + 2 * POINT_BYTES);
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
  const Bs: Point[] = [];
  const shared: Point[] = [];
  for (let j = 0; j < KAPPA; j++) {
    const c = (choices[j >> 3]! >>> (j & 7)) & 1;
    const b = randomScalar(rng);
    const bG = baseMul(b);
    Bs.push(c ? bG.add(A) : bG);
    shared.push(secretMul(A, b));
  }
  const encodedBs = pointsBytes(Bs);
  const out = new Uint8Array(RECEIVER_MESSAGE_BYTES);
  encodedBs.forEach((BB, j) => {
    out.set(BB, j * POINT_BYTES);
  });
  return { message: out, keys: otKeys(sid, AB, encodedBs, pointsBytes(shared)) };
}

/** Sender, step 2: both keys of every OT from the receiver's points. */
export function baseOtSenderFinish(
  state: BaseOtSenderState,
  sid: Uint8Array,
  receiverMessage: Uint8Array,
): BaseOtSenderOutput {
  if (receiverMessage.length !== RECEIVER_MESSAGE_BYTES)
    throw new DecodeError(`base OT receiver message: expected ${RECEIVER_MESSAGE_BYTES} bytes`);
  const aA = secretMul(state.A, state.a);
  const Bs: Uint8Array[] = [];
  const shared0: Point[] = [];
  const shared1: Point[] = [];
  for (let j = 0; j < KAPPA; j++) {
    const BB = receiverMessage.subarray(j * POINT_BYTES, (j + 1) * POINT_BYTES);
    const aB = secretMul(decodeSecpPoint(BB, `base OT B[${j}]`), state.a);
    Bs.push(BB);
    shared0.push(aB);
    shared1.push(aB.subtract(aA));
  }
  return {
    keys0: otKeys(sid, state.AB, Bs, pointsBytes(shared0)),
    keys1: otKeys(sid, state.AB, Bs, pointsBytes(shared1)),
  };
}

export class BaseOtProofError extends Error {
  override readonly name = 'BaseOtProofError';
}
