// OT extension (DKLs23 p. 30: KOS-style extension made non-interactive with Fiat–Shamir).
// We follow the corrected KOS15 protocol (ePrint 2015/546, Fig. 10, the SoftSpokenOT-style
// consistency check): the receiver Bob extends κ base-OT seed pairs to EXTENDED correlated OTs and
// proves, with one universal-hash check per column, that he used the same choice vector in every
// column. Without the check a malicious Bob could learn bits of Alice's Δ by selective failure
// (Trail of Bits, "Don't overextend your Oblivious Transfer", 2023).
//
// Roles (reversed with respect to the base OT): Alice, the extension sender, holds Δ ∈ {0,1}^κ and
// k_i^{Δ_i}; Bob, the extension receiver, holds (k_i^0, k_i^1).
//
//   Bob:   t_i^b = PRG(k_i^b, sid) for each column i;  u_i = t_i^0 ⊕ t_i^1 ⊕ x
//          χ_0, χ_1 = H(sid, u);   x̃ = Σ_k χ_k·x_k + x_pad;   t̃_i = Σ_k χ_k·t_{i,k} + t_{i,pad}
//   Alice: q_i = PRG(k_i^{Δ_i}, sid) ⊕ Δ_i·u_i = t_i^0 ⊕ Δ_i·x;   check Σ_k χ_k·q_{i,k} + q_{i,pad} = t̃_i ⊕ Δ_i·x̃
//   rows:  Bob t_j, Alice q_j = t_j ⊕ x_j·Δ (the j-th rows of the κ × EXTENDED matrices), j < ξ
//
// The random pad block (CHECK_BITS extra OTs) makes x̃ uniformly random, so the check reveals
// nothing about Bob's choices; it is discarded after the check.
import { sha256 } from '@noble/hashes/sha2.js';
import { DecodeError, equalBytes } from '../../codec/bytes.ts';
import type { Rng } from '../../rng.ts';
import { Transcript } from '../../transcript.ts';
import { CHECK_BITS, EXTENDED_BYTES, KAPPA, REAL_BLOCKS, XI } from '../params.ts';
import { prefixedXof } from '../xof.ts';
import { elementBytes, mulAccumulate, mulTable, newElement, xorInto } from './gf256.ts';

const BLOCK_BYTES = CHECK_BITS / 8;
const REAL_BYTES = XI / 8;
const ROW_BYTES = KAPPA / 8;
const U_BYTES = KAPPA * EXTENDED_BYTES;
/** Message Bob → Alice: u (κ columns), x̃, t̃ (κ field elements). */
export const OT_EXT_MESSAGE_BYTES = U_BYTES + BLOCK_BYTES + KAPPA * BLOCK_BYTES;

export type OtExtSenderSetup = { delta: Uint8Array; seeds: Uint8Array[] };
export type OtExtReceiverSetup = { seeds0: Uint8Array[]; seeds1: Uint8Array[] };

/** TurboSHAKE256 (RFC 9861, 12-round Keccak) domain byte of the column PRG. */
const PRG_DOMAIN = 0x0b;

/** Column PRG keyed by a base-OT seed: TurboSHAKE256(sid ‖ column ‖ seed), fixed-length fields. */
function columnPrg(sid: Uint8Array): (seed: Uint8Array, column: number) => Uint8Array {
  const xof = prefixedXof(sid, PRG_DOMAIN, EXTENDED_BYTES);
  const input = new Uint8Array(2 + 32);
  return (seed, column) => {
    input[0] = column >>> 8;
    input[1] = column & 0xff;
    input.set(seed, 2);
    return xof(input);
  };
}

function challenges(sid: Uint8Array, u: Uint8Array) {
  const digest = sha256(u);
  return Array.from({ length: REAL_BLOCKS }, (_, k) =>
    mulTable(
      new Transcript('dkls23/kos/chi').append('sid', sid).append('block', k).append('u', digest).digest(),
    ),
  );
}

/** Σ_k χ_k·block_k + pad of one EXTENDED-bit vector (the universal hash of the check). */
function checkHash(tables: Uint32Array[], v: Uint8Array, offset: number): Uint32Array {
  const acc = newElement();
  for (let k = 0; k < REAL_BLOCKS; k++) {
    const start = k * BLOCK_BYTES;
    mulAccumulate(acc, tables[k]!, v, offset + start, Math.min(BLOCK_BYTES, REAL_BYTES - start));
  }
  xorInto(acc, v, offset + REAL_BYTES, BLOCK_BYTES);
  return acc;
}

/** Rows j < ξ of a κ-column bit matrix (column i at `columns[i·EXTENDED_BYTES…]`). */
function transpose(columns: Uint8Array): Uint8Array {
  const rows = new Uint8Array(XI * ROW_BYTES);
  for (let i = 0; i < KAPPA; i++) {
    const colOffset = i * EXTENDED_BYTES;
    const rowByte = i >> 3;
    const rowBit = 1 << (i & 7);
    for (let jb = 0; jb < REAL_BYTES; jb++) {
      const byte = columns[colOffset + jb]!;
      if (byte === 0) continue;
      for (let b = 0; b < 8; b++) if ((byte >>> b) & 1) rows[(jb * 8 + b) * ROW_BYTES + rowByte]! |= rowBit;
    }
  }
  return rows;
}

/**
 * Bob: extends to ξ OTs with choice bits `choices` (ξ bits, little-endian bit order). Returns the
 * message for Alice and Bob's rows t_j (ξ × 32 bytes).
 */
export function otExtReceive(
  setup: OtExtReceiverSetup,
  sid: Uint8Array,
  choices: Uint8Array,
  rng: Rng,
): { message: Uint8Array; rows: Uint8Array } {
  if (choices.length !== REAL_BYTES) throw new RangeError('OT extension: choice vector must be ξ bits');
  const x = new Uint8Array(EXTENDED_BYTES);
  x.set(choices, 0);
  x.set(rng(EXTENDED_BYTES - REAL_BYTES), REAL_BYTES);
  const message = new Uint8Array(OT_EXT_MESSAGE_BYTES);
  const t0 = new Uint8Array(U_BYTES);
  const prg = columnPrg(sid);
  for (let i = 0; i < KAPPA; i++) {
    const a = prg(setup.seeds0[i]!, i);
    const b = prg(setup.seeds1[i]!, i);
    const off = i * EXTENDED_BYTES;
    t0.set(a, off);
    for (let k = 0; k < EXTENDED_BYTES; k++) message[off + k] = a[k]! ^ b[k]! ^ x[k]!;
  }
  const tables = challenges(sid, message.subarray(0, U_BYTES));
  message.set(elementBytes(checkHash(tables, x, 0)), U_BYTES);
  for (let i = 0; i < KAPPA; i++)
    message.set(elementBytes(checkHash(tables, t0, i * EXTENDED_BYTES)), U_BYTES + BLOCK_BYTES * (1 + i));
  return { message, rows: transpose(t0) };
}

/**
 * Alice: checks Bob's message (throws OtCheckError on failure: selective-failure attempt) and
 * returns her rows q_j (ξ × 32 bytes); q_j ⊕ Δ is the other pad of OT j.
 */
export function otExtSend(setup: OtExtSenderSetup, sid: Uint8Array, message: Uint8Array): Uint8Array {
  if (message.length !== OT_EXT_MESSAGE_BYTES)
    throw new DecodeError(
      `OT extension message: expected ${OT_EXT_MESSAGE_BYTES} bytes, got ${message.length}`,
    );
  const u = message.subarray(0, U_BYTES);
  const xTilde = message.subarray(U_BYTES, U_BYTES + BLOCK_BYTES);
  const q = new Uint8Array(U_BYTES);
  const prg = columnPrg(sid);
  for (let i = 0; i < KAPPA; i++) {
    const col = prg(setup.seeds[i]!, i);
    const off = i * EXTENDED_BYTES;
    if ((setup.delta[i >> 3]! >>> (i & 7)) & 1)
      for (let k = 0; k < EXTENDED_BYTES; k++) col[k]! ^= u[off + k]!;
    q.set(col, off);
  }
  const tables = challenges(sid, u);
  for (let i = 0; i < KAPPA; i++) {
    const expected = Uint8Array.from(
      message.subarray(U_BYTES + BLOCK_BYTES * (1 + i), U_BYTES + BLOCK_BYTES * (2 + i)),
    );
    if ((setup.delta[i >> 3]! >>> (i & 7)) & 1)
      for (let k = 0; k < BLOCK_BYTES; k++) expected[k]! ^= xTilde[k]!;
    if (!equalBytes(elementBytes(checkHash(tables, q, i * EXTENDED_BYTES)), expected))
      throw new OtCheckError(`OT extension consistency check failed in column ${i}`);
  }
  return transpose(q);
}

export class OtCheckError extends Error {
  override readonly name = 'OtCheckError';
}

export const ROW_LENGTH = ROW_BYTES;
