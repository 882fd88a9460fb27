// Default build of "#xof" (package.json "imports"): SHAKE256 by noble, for runtimes without Node's
// OpenSSL. The head (domain byte ‖ prefix) is absorbed once; every call copies that state into one
// scratch hasher (noble's `_cloneInto`, the copy `clone()` makes, without allocating a sponge) and
// finishes it there. noble wipes the scratch state after each digest, so no input (seeds, OT rows)
// stays in it between calls; calls are synchronous, so one scratch is never shared by two calls.
import type { Keccak } from '@noble/hashes/sha3.js';
import { shake256 } from '@noble/hashes/sha3.js';

export const XOF_BACKEND = 'noble';

/** (data, out) ↦ out = SHAKE256(head ‖ data) truncated to out.length = dkLen bytes. */
export function headedShake256(head: Uint8Array, dkLen: number): (data: Uint8Array, out: Uint8Array) => void {
  const base: Keccak = shake256.create({ dkLen }).update(head);
  const scratch = base.clone();
  return (data, out) => {
    base._cloneInto(scratch).update(data).digestInto(out);
  };
}
