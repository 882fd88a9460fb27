// Arithmetic in GF(2^256) = GF(2)[x]/(x^256 + x^10 + x^5 + x^2 + 1), the field of the OT-extension
// consistency check (KOS15, corrected version ePrint 2015/546 Fig. 10). Elements are 32-byte strings,
// bit k (byte k>>3, bit k&7) being the coefficient of x^k. The polynomial's irreducibility was
// checked with Rabin's test (x^(2^256) ≡ x and gcd(x^(2^128) − x, f) = 1).
//
// The check multiplies many blocks by the same few challenges, so a challenge is expanded once into
// a table of its products with every 4-bit window; a product is then 64 lookups and XORs.

const WORDS = 8;
/** x^256 ≡ x^10 + x^5 + x^2 + 1 */
const REDUCTION = 0x425;

export type MulTable = Uint32Array;

function toWords(bytes: Uint8Array): Uint32Array {
  const w = new Uint32Array(WORDS);
  for (let i = 0; i < 32; i++) w[i >> 2]! |= (bytes[i] ?? 0) << ((i & 3) * 8);
  return w;
}

function wordsToBytes(w: Uint32Array): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = (w[i >> 2]! >>> ((i & 3) * 8)) & 0xff;
  return out;
}

function timesX(w: Uint32Array): void {
  const carry = w[WORDS - 1]! >>> 31;
  for (let i = WORDS - 1; i > 0; i--) w[i] = ((w[i]! << 1) | (w[i - 1]! >>> 31)) >>> 0;
  w[0] = (w[0]! << 1) >>> 0;
  if (carry) w[0]! ^= REDUCTION;
}

/** Table of χ·(n·x^(4p)) for window p in 0..63 and nibble n in 0..15. */
export function mulTable(chi: Uint8Array): MulTable {
  const table = new Uint32Array(64 * 16 * WORDS);
  const cur = toWords(chi);
  for (let p = 0; p < 64; p++) {
    const base = p * 16 * WORDS;
    for (let bit = 0; bit < 4; bit++) {
      table.set(cur, base + (1 << bit) * WORDS);
      timesX(cur);
    }
    for (let n = 3; n < 16; n++) {
      if ((n & (n - 1)) === 0) continue;
      const low = n & -n;
      const rest = n ^ low;
      for (let k = 0; k < WORDS; k++)
        table[base + n * WORDS + k] = table[base + low * WORDS + k]! ^ table[base + rest * WORDS + k]!;
    }
  }
  return table;
}

/** acc ^= χ·y, where y is `length` ≤ 32 bytes of `src` at `offset` (missing bytes read as zero). */
export function mulAccumulate(
  acc: Uint32Array,
  table: MulTable,
  src: Uint8Array,
  offset: number,
  length: number,
): void {
  for (let i = 0; i < length; i++) {
    const byte = src[offset + i]!;
    if (byte === 0) continue;
    const lo = (2 * i * 16 + (byte & 15)) * WORDS;
    const hi = ((2 * i + 1) * 16 + (byte >>> 4)) * WORDS;
    for (let k = 0; k < WORDS; k++) acc[k]! ^= table[lo + k]! ^ table[hi + k]!;
  }
}

export function xorInto(acc: Uint32Array, src: Uint8Array, offset: number, length: number): void {
  for (let i = 0; i < length; i++) acc[i >> 2]! ^= src[offset + i]! << ((i & 3) * 8);
}

export function newElement(): Uint32Array {
  return new Uint32Array(WORDS);
}

export function elementBytes(w: Uint32Array): Uint8Array {
  return wordsToBytes(w);
}

export function elementFromBytes(bytes: Uint8Array): Uint32Array {
  return toWords(bytes);
}
