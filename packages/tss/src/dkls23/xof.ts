// TurboSHAKE256 (RFC 9861: Keccak-p[1600, 12 rounds], capacity 512, rate 136 bytes) for short
// inputs behind a fixed prefix: the OT-extension PRG and the pad hash call it thousands of times
// per signing with the same session id in front. The prefix is absorbed once into a noble
// `turboshake256` hasher, which every call clones (DESIGN §3: hashes are noble's).

import { turboshake256 } from '@noble/hashes/sha3-addons.js';

export type PrefixedXof = (data: Uint8Array) => Uint8Array;

/** data ↦ TurboSHAKE256_D(prefix ‖ data) truncated to dkLen bytes. */
export function prefixedXof(prefix: Uint8Array, domain: number, dkLen: number): PrefixedXof {
  const base = turboshake256.create({ dkLen, D: domain }).update(prefix);
  return (data) => base.clone().update(data).digest();
}

/** Like prefixedXof, but returns a DataView over the output (hot loops read it into bigints). */
export function prefixedXofView(
  prefix: Uint8Array,
  domain: number,
  dkLen: number,
): (data: Uint8Array) => DataView {
  const xof = prefixedXof(prefix, domain, dkLen);
  return (data) => {
    const out = xof(data);
    return new DataView(out.buffer, out.byteOffset, out.length);
  };
}
