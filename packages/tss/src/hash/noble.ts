// Default build of "#hash" (package.json "imports"): SHA-256 and SHAKE256 by noble, for runtimes
// without Node's OpenSSL. SHAKE256: the head (domain byte ‖ prefix) is absorbed once; every call
// copies that state into one scratch hasher (noble's `_cloneInto`, the copy `clone()` makes, without
// allocating a sponge) and finishes it there. noble wipes the scratch state after each digest, so no
// input (seeds, OT rows) stays in it between calls; calls are synchronous, so one scratch is never
// shared by two calls.
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import type { Keccak } from '@noble/hashes/sha3.js';
import { shake256 } from '@noble/hashes/sha3.js';

export const HASH_BACKEND = 'noble';

/** SHA-256 (FIPS 180-4) of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** (data, out) ↦ out = SHAKE256(head ‖ data) truncated to out.length = dkLen bytes. */
export function headedShake256(head: Uint8Array, dkLen: number): (data: Uint8Array, out: Uint8Array) => void {
  const base: Keccak = shake256.create({ dkLen }).update(head);
  const scratch = base.clone();
  return (data, out) => {
    base._cloneInto(scratch).update(data).digestInto(out);
  };
}
