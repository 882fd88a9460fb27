// TurboSHAKE256 (RFC 9861: Keccak-p[1600, 12 rounds], capacity 512, rate 136 bytes) for short
// inputs behind a fixed prefix: the OT-extension PRG and the pad hash call it thousands of times
// per signing with the same session id in front. The prefix is absorbed once into a noble
// `turboshake256` hasher; every call copies that state into one scratch hasher of the same
// function (noble's `_cloneInto`, the copy `clone()` makes, without allocating a new sponge) and
// finishes it there (DESIGN §3: hashes are noble's). noble wipes the scratch state after each
// digest, so no input (seeds, OT rows) stays in it between calls. Calls are synchronous, so one
// scratch per function is never shared by two calls at once.

import type { Keccak } from '@noble/hashes/sha3.js';
import { turboshake256 } from '@noble/hashes/sha3-addons.js';

export type PrefixedXof = (data: Uint8Array) => Uint8Array;

function prefixedSponge(prefix: Uint8Array, domain: number, dkLen: number) {
  const base: Keccak = turboshake256.create({ dkLen, D: domain }).update(prefix);
  const scratch = base.clone();
  return (data: Uint8Array, out: Uint8Array): Uint8Array => {
    base._cloneInto(scratch).update(data).digestInto(out);
    return out;
  };
}

/** data ↦ TurboSHAKE256_D(prefix ‖ data) truncated to dkLen bytes (a fresh array per call). */
export function prefixedXof(prefix: Uint8Array, domain: number, dkLen: number): PrefixedXof {
  const sponge = prefixedSponge(prefix, domain, dkLen);
  return (data) => sponge(data, new Uint8Array(dkLen));
}

/**
 * Like prefixedXof, but returns a DataView over one output buffer that the next call overwrites
 * (hot loops read it into bigints at once).
 */
export function prefixedXofView(
  prefix: Uint8Array,
  domain: number,
  dkLen: number,
): (data: Uint8Array) => DataView {
  const sponge = prefixedSponge(prefix, domain, dkLen);
  const out = new Uint8Array(dkLen);
  const view = new DataView(out.buffer);
  return (data) => {
    sponge(data, out);
    return view;
  };
}
