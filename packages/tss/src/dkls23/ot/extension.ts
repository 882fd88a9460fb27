// OT extension (DKLs23 p. 30: an OT extension made non-interactive with Fiat–Shamir). DKLs23
// suggests SoftSpokenOT (Roy, ePrint 2022/192); we use it with k = 2 on top of the all-but-one OTs
// of ot/punctured.ts, and the consistency check of the corrected KOS15 (ePrint 2015/546, Fig. 10:
// one universal hash per column). Without the check a malicious Bob could learn bits of Alice's Δ
// by selective failure (Trail of Bits, "Don't overextend your Oblivious Transfer", 2023).
//
// Small-field VOLE per block b (SoftSpokenOT §3–4), with r_x = PRG(s_{b,x}, sid) ∈ {0,1}^EXTENDED:
//   Bob:   u_b = ⊕_x r_x;  v_{b,p} = ⊕_{x : bit p of x} r_x      (columns t_{2b+p} = v_{b,p})
//          sends c_b = u_b ⊕ x (x: his choice bits ‖ random pad) — κ/k rows instead of KOS's κ
//   Alice: w_{b,p} = ⊕_{x ≠ Δ_b : bit p of (x ⊕ Δ_b)} r_x = v_{b,p} ⊕ Δ_{b,p}·u_b
//          q_{2b+p} = w_{b,p} ⊕ Δ_{b,p}·c_b = t_{2b+p} ⊕ Δ_{2b+p}·x
// which is the KOS correlation: row j gives Bob t_j and Alice q_j = t_j ⊕ x_j·Δ.
//
// Check (KOS15 Fig. 10 + Fiat–Shamir): χ_0, χ_1 = H(sid, c); x̃ = Σ_k χ_k·x_k + x_pad,
// t̃_i = Σ_k χ_k·t_{i,k} + t_{i,pad} over GF(2^256); Alice recomputes t̃_i = q̃_i ⊕ Δ_i·x̃ and
// compares. As in DKLs23 §5.1 for the multiplication check, Bob sends only a hash of (t̃_i)_i.
// The pad block (CHECK_BITS extra OTs) makes x̃ uniform; it is discarded after the check.
import { sha256 } from '#hash';
import { DecodeError, equalBytes } from '../../codec/bytes.ts';
import type { Rng } from '../../rng.ts';
import { Transcript } from '../../transcript.ts';
import { CHECK_BITS, EXTENDED_BYTES, KAPPA, REAL_BLOCKS, XI } from '../params.ts';
import { prefixedXof } from '../xof.ts';
import { elementBytes, mulAccumulate, mulTable, newElement, xorInto } from './gf256.ts';
import { BLOCKS } from './punctured.ts';

const BLOCK_BYTES = CHECK_BITS / 8;
const REAL_BYTES = XI / 8;
const ROW_BYTES = KAPPA / 8;
const C_BYTES = BLOCKS * EXTENDED_BYTES;
/** Message Bob → Alice: corrections c (κ/k rows), x̃, H(t̃). */
export const OT_EXT_MESSAGE_BYTES = C_BYTES + BLOCK_BYTES + 32;

/** Alice: Δ (bit 2b+p = bit p of Δ_b) and every leaf but s_{b,Δ_b} (that one is empty). */
export type OtExtSenderSetup = { delta: Uint8Array; leaves: Uint8Array[][] };
/** Bob: all four leaves of every block. */
export type OtExtReceiverSetup = { leaves: Uint8Array[][] };

/** SHAKE256 domain byte (xof.ts) of the column PRG. */
const PRG_DOMAIN = 0x0b;

/** Leaf PRG: SHAKE256(0x0b ‖ sid ‖ (4b + x) ‖ s_{b,x}), fixed-length fields. */
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

/**
 * Rows j < ξ of a κ-column bit matrix (column i at `columns[i·EXTENDED_BYTES…]`), 8×8 bits at a
 * time (Hacker's Delight, transpose8 with delta swaps): out-byte r of a block has bit k equal to
 * bit r of in-byte k.
 */
function transpose(columns: Uint8Array): Uint8Array {
  const rows = new Uint8Array(XI * ROW_BYTES);
  for (let g = 0; g < KAPPA / 8; g++) {
    const base = 8 * g * EXTENDED_BYTES;
    // (no closures in this loop: esbuild's keepNames would wrap each one per iteration)
    for (let jb = 0; jb < REAL_BYTES; jb++) {
      const c = base + jb;
      // A[i] = in[7 − i] so that the MSB-first routine yields LSB-first rows: out[r] = B[7 − r].
      let x =
        ((columns[c + 7 * EXTENDED_BYTES]! << 24) |
          (columns[c + 6 * EXTENDED_BYTES]! << 16) |
          (columns[c + 5 * EXTENDED_BYTES]! << 8) |
          columns[c + 4 * EXTENDED_BYTES]!) >>>
        0;
      let y =
        ((columns[c + 3 * EXTENDED_BYTES]! << 24) |
          (columns[c + 2 * EXTENDED_BYTES]! << 16) |
          (columns[c + EXTENDED_BYTES]! << 8) |
          columns[c]!) >>>
        0;
      if ((x | y) === 0) continue;
      let t = (x ^ (x >>> 7)) & 0x00aa00aa;
      x = x ^ t ^ (t << 7);
      t = (y ^ (y >>> 7)) & 0x00aa00aa;
      y = y ^ t ^ (t << 7);
      t = (x ^ (x >>> 14)) & 0x0000cccc;
      x = x ^ t ^ (t << 14);
      t = (y ^ (y >>> 14)) & 0x0000cccc;
      y = y ^ t ^ (t << 14);
      t = (x & 0xf0f0f0f0) | ((y >>> 4) & 0x0f0f0f0f);
      y = ((x << 4) & 0xf0f0f0f0) | (y & 0x0f0f0f0f);
      x = t;
      const r0 = jb * 8 * ROW_BYTES + g;
      rows[r0 + 7 * ROW_BYTES] = x >>> 24;
      rows[r0 + 6 * ROW_BYTES] = x >>> 16;
      rows[r0 + 5 * ROW_BYTES] = x >>> 8;
      rows[r0 + 4 * ROW_BYTES] = x;
      rows[r0 + 3 * ROW_BYTES] = y >>> 24;
      rows[r0 + 2 * ROW_BYTES] = y >>> 16;
      rows[r0 + ROW_BYTES] = y >>> 8;
      rows[r0] = y;
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
  const t = new Uint8Array(KAPPA * EXTENDED_BYTES);
  const prg = columnPrg(sid);
  for (let b = 0; b < BLOCKS; b++) {
    const leaves = setup.leaves[b]!;
    const r0 = prg(leaves[0]!, 4 * b);
    const r1 = prg(leaves[1]!, 4 * b + 1);
    const r2 = prg(leaves[2]!, 4 * b + 2);
    const r3 = prg(leaves[3]!, 4 * b + 3);
    const v0 = 2 * b * EXTENDED_BYTES;
    const v1 = v0 + EXTENDED_BYTES;
    const c = b * EXTENDED_BYTES;
    for (let k = 0; k < EXTENDED_BYTES; k++) {
      t[v0 + k] = r1[k]! ^ r3[k]!;
      t[v1 + k] = r2[k]! ^ r3[k]!;
      message[c + k] = r0[k]! ^ r1[k]! ^ r2[k]! ^ r3[k]! ^ x[k]!;
    }
  }
  const tables = challenges(sid, message.subarray(0, C_BYTES));
  message.set(elementBytes(checkHash(tables, x, 0)), C_BYTES);
  const tTilde = new Uint8Array(KAPPA * BLOCK_BYTES);
  for (let i = 0; i < KAPPA; i++)
    tTilde.set(elementBytes(checkHash(tables, t, i * EXTENDED_BYTES)), i * BLOCK_BYTES);
  message.set(sha256(tTilde), C_BYTES + BLOCK_BYTES);
  return { message, rows: transpose(t) };
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
  const c = message.subarray(0, C_BYTES);
  const xTilde = message.subarray(C_BYTES, C_BYTES + BLOCK_BYTES);
  const q = new Uint8Array(KAPPA * EXTENDED_BYTES);
  const prg = columnPrg(sid);
  for (let b = 0; b < BLOCKS; b++) {
    const delta = (setup.delta[(2 * b) >> 3]! >>> ((2 * b) & 7)) & 3;
    const w0 = 2 * b * EXTENDED_BYTES;
    const w1 = w0 + EXTENDED_BYTES;
    for (let xIndex = 0; xIndex < 4; xIndex++) {
      if (xIndex === delta) continue;
      const r = prg(setup.leaves[b]![xIndex]!, 4 * b + xIndex);
      const diff = xIndex ^ delta;
      if (diff & 1) for (let k = 0; k < EXTENDED_BYTES; k++) q[w0 + k]! ^= r[k]!;
      if (diff & 2) for (let k = 0; k < EXTENDED_BYTES; k++) q[w1 + k]! ^= r[k]!;
    }
    const cb = b * EXTENDED_BYTES;
    if (delta & 1) for (let k = 0; k < EXTENDED_BYTES; k++) q[w0 + k]! ^= c[cb + k]!;
    if (delta & 2) for (let k = 0; k < EXTENDED_BYTES; k++) q[w1 + k]! ^= c[cb + k]!;
  }
  const tables = challenges(sid, c);
  const expected = new Uint8Array(KAPPA * BLOCK_BYTES);
  for (let i = 0; i < KAPPA; i++) {
    const value = elementBytes(checkHash(tables, q, i * EXTENDED_BYTES));
    if ((setup.delta[i >> 3]! >>> (i & 7)) & 1) for (let k = 0; k < BLOCK_BYTES; k++) value[k]! ^= xTilde[k]!;
    expected.set(value, i * BLOCK_BYTES);
  }
  if (!equalBytes(sha256(expected), message.subarray(C_BYTES + BLOCK_BYTES)))
    throw new OtCheckError('OT extension consistency check failed');
  return transpose(q);
}

export class OtCheckError extends Error {
  override readonly name = 'OtCheckError';
}

export const ROW_LENGTH = ROW_BYTES;
