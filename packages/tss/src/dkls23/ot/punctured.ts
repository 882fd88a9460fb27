// All-but-one OT for SoftSpokenOT (Roy, ePrint 2022/192, §3 "small-field VOLE"; the GGM-tree
// punctured PRF of its setup), with k = 2: for every block b of two base OTs, Bob (extension
// receiver, base-OT sender) holds four leaves s_{b,0..3} and Alice (extension sender, base-OT
// receiver) learns every leaf but s_{b,Δ_b}, where Δ_b ∈ {0..3} is the complement of her two
// base-OT choice bits.
//
//   Bob:   n_0, n_1 random; (s_{a,0}, s_{a,1}) = G(n_a); leaf index x = a | (a2 << 1)
//          level 1: e_{1,0} = n_0 ⊕ K_{2b,0},            e_{1,1} = n_1 ⊕ K_{2b,1}
//          level 2: e_{2,0} = s_{0,0} ⊕ s_{1,0} ⊕ K_{2b+1,0}, e_{2,1} = s_{0,1} ⊕ s_{1,1} ⊕ K_{2b+1,1}
//   Alice: with choices (c1, c2): n_{c1} = e_{1,c1} ⊕ K → s_{c1,0}, s_{c1,1};
//          e_{2,c2} ⊕ K ⊕ s_{c1,c2} = s_{1−c1,c2}; the punctured leaf is (1−c1, 1−c2).
//
// A Bob who sends a wrong correction changes only leaves Alice derives on one branch, so the
// difference surfaces (or not) depending on her choice bit: the OT-extension check then aborts and
// bans him, which bounds what he learns about Δ to the bits he guesses before that abort.
import { DecodeError } from '../../codec/bytes.ts';
import type { Rng } from '../../rng.ts';
import { prefixedXof } from '../xof.ts';

export const BLOCKS = 128; // κ / k with κ = 256, k = 2
const LEAF = 32;
export const PUNCTURED_MESSAGE_BYTES = BLOCKS * 4 * LEAF;

const expand = prefixedXof(new TextEncoder().encode('coffer/dkls23/ggm'), 0x0d, 2 * LEAF);

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(LEAF);
  for (let i = 0; i < LEAF; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function children(node: Uint8Array): [Uint8Array, Uint8Array] {
  const out = expand(node);
  return [out.slice(0, LEAF), out.slice(LEAF)];
}

/** Bob: leaves[b][x] for x in 0..3 and the corrections for Alice, from his 2·BLOCKS base-OT key pairs. */
export function puncturedSend(
  rng: Rng,
  keys0: readonly Uint8Array[],
  keys1: readonly Uint8Array[],
): { leaves: Uint8Array[][]; message: Uint8Array } {
  const message = new Uint8Array(PUNCTURED_MESSAGE_BYTES);
  const leaves: Uint8Array[][] = [];
  for (let b = 0; b < BLOCKS; b++) {
    const n0 = rng(LEAF);
    const n1 = rng(LEAF);
    const [s00, s01] = children(n0);
    const [s10, s11] = children(n1);
    // leaf index x = a1 | (a2 << 1)
    leaves.push([s00, s10, s01, s11]);
    const off = b * 4 * LEAF;
    message.set(xor(n0, keys0[2 * b]!), off);
    message.set(xor(n1, keys1[2 * b]!), off + LEAF);
    message.set(xor(xor(s00, s10), keys0[2 * b + 1]!), off + 2 * LEAF);
    message.set(xor(xor(s01, s11), keys1[2 * b + 1]!), off + 3 * LEAF);
  }
  return { leaves, message };
}

/**
 * Alice: her leaves (the punctured one set to an empty array) and Δ (bit 2b+p = bit p of Δ_b)
 * from her base-OT choices and keys.
 */
export function puncturedReceive(
  choices: Uint8Array,
  keys: readonly Uint8Array[],
  message: Uint8Array,
): { delta: Uint8Array; leaves: Uint8Array[][] } {
  if (message.length !== PUNCTURED_MESSAGE_BYTES)
    throw new DecodeError(
      `punctured-OT corrections: expected ${PUNCTURED_MESSAGE_BYTES} bytes, got ${message.length}`,
    );
  const delta = new Uint8Array(32);
  const leaves: Uint8Array[][] = [];
  const bit = (i: number) => (choices[i >> 3]! >>> (i & 7)) & 1;
  for (let b = 0; b < BLOCKS; b++) {
    const c1 = bit(2 * b);
    const c2 = bit(2 * b + 1);
    const off = b * 4 * LEAF;
    const e = (level: number, side: number) =>
      message.subarray(off + (2 * level + side) * LEAF, off + (2 * level + side + 1) * LEAF);
    const node = xor(e(0, c1), keys[2 * b]!);
    const [known0, known1] = children(node); // s_{c1,0}, s_{c1,1}
    const sibling = xor(xor(e(1, c2), keys[2 * b + 1]!), c2 ? known1 : known0); // s_{1−c1,c2}
    const row: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)];
    row[c1] = known0;
    row[c1 | 2] = known1;
    row[(1 - c1) | (c2 << 1)] = sibling;
    leaves.push(row);
    const punctured = (1 - c1) | ((1 - c2) << 1);
    delta[(2 * b) >> 3]! |= punctured << ((2 * b) & 7);
  }
  return { delta, leaves };
}
