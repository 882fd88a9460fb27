// TurboSHAKE256 (RFC 9861: Keccak-p[1600, 12 rounds], capacity 512) with a fixed prefix absorbed
// once and cloned per call: the OT-extension PRG and the pad hash call it thousands of times per
// signing with the same session id in front, and noble's per-call setup dominated otherwise.
import { turboshake256 } from '@noble/hashes/sha3-addons.js';

export type PrefixedXof = (data: Uint8Array) => Uint8Array;

/** data ↦ TurboSHAKE256_D(prefix ‖ data) truncated to dkLen bytes. */
export function prefixedXof(prefix: Uint8Array, domain: number, dkLen: number): PrefixedXof {
  const base = turboshake256.create({ dkLen, D: domain }).update(prefix);
  return (data) => base.clone().update(data).digest();
}
