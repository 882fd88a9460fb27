// TurboSHAKE256 (RFC 9861: Keccak-p[1600, 12 rounds], capacity 512, rate 136 bytes) for short
// inputs behind a fixed prefix: the OT-extension PRG and the pad hash call it thousands of times
// per signing with the same session id in front. When prefix ‖ data fits one rate block and the
// output fits one squeeze, the sponge is a single permutation of a precomputed state; we run that
// permutation directly (keccak.ts, an unrolled Keccak-p[1600, 12]) instead of building a hasher
// per call. Output is
// byte-for-byte TurboSHAKE256 (tested against noble's turboshake256).

import { turboshake256 } from '@noble/hashes/sha3-addons.js';
import { keccakP12 } from './keccak.ts';

export type PrefixedXof = (data: Uint8Array) => Uint8Array;

const RATE = 136;
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** data ↦ TurboSHAKE256_D(prefix ‖ data) truncated to dkLen bytes. */
export function prefixedXof(prefix: Uint8Array, domain: number, dkLen: number): PrefixedXof {
  if (!LITTLE_ENDIAN || dkLen > RATE) {
    const base = turboshake256.create({ dkLen, D: domain }).update(prefix);
    return (data) => base.clone().update(data).digest();
  }
  const template = new Uint8Array(200);
  template.set(prefix);
  const state = new Uint8Array(200);
  const state32 = new Uint32Array(state.buffer);
  return (data) => {
    const end = prefix.length + data.length;
    if (end >= RATE) return turboshake256(concat(prefix, data), { dkLen, D: domain });
    state.set(template);
    for (let i = 0; i < data.length; i++) state[prefix.length + i]! ^= data[i]!;
    state[end]! ^= domain;
    state[RATE - 1]! ^= 0x80;
    keccakP12(state32);
    return state.slice(0, dkLen);
  };
}

/**
 * Like prefixedXof, but returns a DataView over the output without copying it; the view is only
 * valid until the next call (hot loops read it straight into bigints).
 */
export function prefixedXofView(
  prefix: Uint8Array,
  domain: number,
  dkLen: number,
): (data: Uint8Array) => DataView {
  if (!LITTLE_ENDIAN || dkLen > RATE || prefix.length >= RATE) {
    const xof = prefixedXof(prefix, domain, dkLen);
    return (data) => {
      const out = xof(data);
      return new DataView(out.buffer, out.byteOffset, out.length);
    };
  }
  const template = new Uint8Array(200);
  template.set(prefix);
  const state = new Uint8Array(200);
  const state32 = new Uint32Array(state.buffer);
  const view = new DataView(state.buffer);
  const fallback = prefixedXof(prefix, domain, dkLen);
  return (data) => {
    const end = prefix.length + data.length;
    if (end >= RATE) {
      const out = fallback(data);
      return new DataView(out.buffer, out.byteOffset, out.length);
    }
    state.set(template);
    for (let i = 0; i < data.length; i++) state[prefix.length + i]! ^= data[i]!;
    state[end]! ^= domain;
    state[RATE - 1]! ^= 0x80;
    keccakP12(state32);
    return view;
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
