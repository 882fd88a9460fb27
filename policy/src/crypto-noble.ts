// Default (non-Node) build of "#crypto": noble's audited pure-JavaScript SHA-256 and Ed25519, for
// runtimes without node:crypto (a browser approver console).
//
// noble checks the cofactored equation [8]([S]B − R − [k]A) = 0, which also accepts R plus a small-order
// point; OpenSSL (crypto-node.ts) checks the cofactorless one and does not. The stricter rule is kept for
// both: R must be in the prime-order subgroup here too. With A in that subgroup (keys.ts checks it for
// both backends) the two equations then accept exactly the same signatures.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { CryptoBackend } from './crypto-backend.ts';

export const backend: CryptoBackend<Uint8Array> = {
  name: 'noble',
  sha256(data) {
    return sha256(typeof data === 'string' ? utf8ToBytes(data) : data);
  },
  sha256Hex(data) {
    return bytesToHex(this.sha256(data));
  },
  ed25519PublicKey(publicKey) {
    return Uint8Array.from(publicKey);
  },
  ed25519Verify(signature, message, publicKey) {
    try {
      if (!ed25519.verify(signature, message, publicKey, { zip215: false })) return false;
      return ed25519.Point.fromBytes(signature.subarray(0, 32)).isTorsionFree();
    } catch {
      return false;
    }
  },
};
