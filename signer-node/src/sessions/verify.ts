// Independent check of a finished signature with noble's standard verifiers (DESIGN §3 item 6): the
// coordinator verifies every signature a member reports under the (derived) wallet key. A report that
// does not verify locks the wallet for review.

import type { SchemeId } from '@coffer/tss';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';

/** `publicKey` is the derived key in the chain's format (33-byte compressed, 32-byte x-only, Ed25519). */
export function signatureVerifies(
  scheme: SchemeId,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    if (scheme === 'schnorr-secp256k1-tr')
      return signature.length === 64 && schnorr.verify(signature, message, publicKey);
    if (scheme === 'eddsa-ed25519')
      return signature.length === 64 && ed25519.verify(signature, message, publicKey);
    if (signature.length !== 65 || signature[64]! > 3) return false;
    const compact = signature.subarray(0, 64);
    if (!secp256k1.verify(compact, message, publicKey, { prehash: false, lowS: true })) return false;
    // The recovery id must name the same key (EVM and TRON recover the sender from it).
    const recovered = secp256k1.Signature.fromBytes(compact, 'compact')
      .addRecoveryBit(signature[64]!)
      .recoverPublicKey(message)
      .toBytes(true);
    return recovered.length === publicKey.length && recovered.every((b, i) => b === publicKey[i]);
  } catch {
    return false;
  }
}
