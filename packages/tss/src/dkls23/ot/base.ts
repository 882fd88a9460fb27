// Base oblivious transfer for the pairwise setup (DKLs23 p. 30: an endemic OT seeds the OT
// extension). κ random OTs per direction, in one message each way:
//
//   sender:   a ← Z_q, A = a·G, plus a Schnorr proof of knowledge of a bound to the OT session id
//   receiver: for each j with choice c_j: b_j ← Z_q, B_j = b_j·G + c_j·A;   key = H(sid, j, A, B_j, b_j·A)
//   sender:   k0_j = H(sid, j, A, B_j, a·B_j),  k1_j = H(sid, j, A, B_j, a·B_j − a·A)
//
// This is the batched Chou–Orlandi "simplest OT" in its endemic (random-output) form, as used by
// DKLs18 (Protocol 7, "VSOT") for the DKLs family. Intentional divergence from DKLs18: the
// verification rounds of VSOT are omitted — outputs are only used as KOS seeds, and the KOS check
// (ot/extension.ts) catches a base-OT sender that hands out inconsistent seeds. Receiver privacy is
// perfect (B_j is uniform whatever c_j is); a receiver learning both keys of one OT would compute
// a²·G from A, i.e. solve CDH. The sender's one variable-base scalar multiplication per OT is the
// minimum for any Diffie–Hellman OT and the dominant cost of key generation.
import { sha256 } from '@noble/hashes/sha2.js';
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
  publicMul,
  randomScalar,
  scalarBytes,
  secretMul,
} from '../scalar.ts';
import { glvMultiply } from './glv.ts';

export type BaseOtSenderState = { a: bigint; A: Point; AB: Uint8Array };
export type BaseOtSenderOutput = { keys0: Uint8Array[]; keys1: Uint8Array[] };

const SENDER_MESSAGE_BYTES = POINT_BYTES * 2 + 32;
export const RECEIVER_MESSAGE_BYTES = POINT_BYTES * KAPPA;

function proofChallenge(sid: Uint8Array, A: Uint8Array, K: Uint8Array): bigint {
  return hashToScalar(
    new Transcript('dkls23/base-ot/pok').append('sid', sid).append('A', A).append('K', K).digest(),
  );
}

function otKey(sid: Uint8Array, j: number, A: Uint8Array, B: Uint8Array, shared: Point): Uint8Array {
  // Fixed-length fields in a fixed order: the encoding is unambiguous without length prefixes.
  const buf = new Uint8Array(32 + 2 + POINT_BYTES * 3);
  buf.set(sid, 0);
  buf[32] = j >>> 8;
  buf[33] = j & 0xff;
  buf.set(A, 34);
  buf.set(B, 34 + POINT_BYTES);
  buf.set(shared.is0() ? new Uint8Array(POINT_BYTES) : pointBytes(shared), 34 + 2 * POINT_BYTES);
  return sha256(buf);
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
  A.precompute(8);
  const out = new Uint8Array(RECEIVER_MESSAGE_BYTES);
  const keys: Uint8Array[] = [];
  for (let j = 0; j < KAPPA; j++) {
    const c = (choices[j >> 3]! >>> (j & 7)) & 1;
    const b = randomScalar(rng);
    const bG = baseMul(b);
    const B = c ? bG.add(A) : bG;
    const BB = pointBytes(B);
    out.set(BB, j * POINT_BYTES);
    // A carries a precomputed window table: noble's constant-time multiply on it is the fastest
    // secret-scalar product available here (faster than the GLV path used for fresh points).
    keys.push(otKey(sid, j, AB, BB, A.multiply(b)));
  }
  return { message: out, keys };
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
  const keys0: Uint8Array[] = [];
  const keys1: Uint8Array[] = [];
  for (let j = 0; j < KAPPA; j++) {
    const BB = receiverMessage.subarray(j * POINT_BYTES, (j + 1) * POINT_BYTES);
    const B = decodeSecpPoint(BB, `base OT B[${j}]`);
    const aB = glvMultiply(B, state.a);
    keys0.push(otKey(sid, j, state.AB, BB, aB));
    keys1.push(otKey(sid, j, state.AB, BB, aB.subtract(aA)));
  }
  return { keys0, keys1 };
}

export class BaseOtProofError extends Error {
  override readonly name = 'BaseOtProofError';
}
