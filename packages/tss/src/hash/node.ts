// Node build of "#hash" (package.json "imports"): SHA-256 and SHAKE256 by Node's OpenSSL, byte for byte
// the functions of the noble build (test/hash.test.ts, test/dkls23/xof.test.ts run both).
// - SHAKE256: a signing calls it about 2,000 times per ordered pair with inputs of under 136 bytes (one
//   Keccak-f permutation each); OpenSSL's C permutation takes 1.6–1.8 µs per call here including the
//   call into Node, against 2.6–3.0 µs for the 12-round TurboSHAKE256 in JavaScript this replaced
//   (packages/tss/src/dkls23/README.md).
// - SHA-256: transcripts, the DKLs23 check challenges over tens of kilobytes of OT messages, and the
//   signer node's envelope signatures over whole round payloads; OpenSSL hashes 40 KB in about 24 µs
//   here against about 290 µs in JavaScript, and a 64-byte transcript in 1.2 µs against 2.3 µs.
import { createHash, hash } from 'node:crypto';

export const HASH_BACKEND = 'node:crypto';

/** SHA-256 (FIPS 180-4) of `data`, one call into OpenSSL. */
export function sha256(data: Uint8Array): Uint8Array {
  const digest = hash('sha256', data, 'buffer');
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/** (data, out) ↦ out = SHAKE256(head ‖ data) truncated to out.length = dkLen bytes. */
export function headedShake256(head: Uint8Array, dkLen: number): (data: Uint8Array, out: Uint8Array) => void {
  return (data, out) => {
    out.set(createHash('shake256', { outputLength: dkLen }).update(head).update(data).digest());
  };
}
