// Node build of "#xof" (package.json "imports"): SHAKE256 by Node's OpenSSL, byte for byte the same
// function as the noble build (test/dkls23/xof.test.ts runs both). A signing calls it about 2,000
// times per ordered pair with inputs of under 136 bytes (one Keccak-f permutation each); OpenSSL's
// C permutation takes 1.6–1.8 µs per call here including the call into Node, against 2.6–3.0 µs for
// the 12-round TurboSHAKE256 in JavaScript this replaced (packages/tss/src/dkls23/README.md).
import { createHash } from 'node:crypto';

export const XOF_BACKEND = 'node:crypto';

/** (data, out) ↦ out = SHAKE256(head ‖ data) truncated to out.length = dkLen bytes. */
export function headedShake256(head: Uint8Array, dkLen: number): (data: Uint8Array, out: Uint8Array) => void {
  return (data, out) => {
    out.set(createHash('shake256', { outputLength: dkLen }).update(head).update(data).digest());
  };
}
