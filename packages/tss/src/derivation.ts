// BIP32 non-hardened (public) derivation on a threshold key (DESIGN §3 item 9). The child key is
// K + δ·G where δ is the sum of the per-level tweaks IL; every party adds the same public δ to its
// share (the Lagrange coefficients of any signing set sum to 1), so no share ever leaves its owner.
// Hardened steps need the private key and are impossible on a threshold key without a protocol.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { UsageError } from './errors.ts';

const HARDENED_OFFSET = 0x80000000;
const MAX_DEPTH = 255;

/** Parses "m/0/7" (or "m") into child indices; rejects hardened steps with a clear error. */
export function parseDerivationPath(path: string): number[] {
  if (typeof path !== 'string') throw new UsageError('derivation path must be a string like "m/0/7"');
  const parts = path.split('/');
  if (parts[0] !== 'm') throw new UsageError(`derivation path "${path}" must start with "m"`);
  const steps = parts.slice(1);
  if (steps.length > MAX_DEPTH) throw new UsageError(`derivation path "${path}" is deeper than ${MAX_DEPTH}`);
  return steps.map((step) => {
    if (/^\d+['hH]$/.test(step))
      throw new UsageError(
        `derivation path "${path}": hardened step ${step} needs the private key; threshold keys support only non-hardened (public) derivation`,
      );
    if (!/^(0|[1-9]\d*)$/.test(step))
      throw new UsageError(`derivation path "${path}": step "${step}" is not a number`);
    const index = Number(step);
    if (index >= HARDENED_OFFSET)
      throw new UsageError(`derivation path "${path}": step ${step} is out of range`);
    return index;
  });
}

export type DerivedKey = {
  /** δ: the total scalar tweak, added to every share. */
  tweak: bigint;
  /** The child public key, 33-byte compressed. */
  point: Uint8Array;
  chainCode: Uint8Array;
};

/**
 * BIP32 CKDpub, repeated along the path: IL‖IR = HMAC-SHA512(c, serP(K) ‖ ser32(i)); K' = K + IL·G;
 * c' = IR. "In case parse256(IL) ≥ n or K' is the point at infinity, the resulting key is invalid"
 * (BIP32) — we report it instead of silently skipping to the next index.
 */
export function deriveSecp256k1(point: Uint8Array, chainCode: Uint8Array, path: string): DerivedKey {
  const indices = parseDerivationPath(path);
  if (chainCode.length !== 32) throw new UsageError('derivation needs a 32-byte chain code');
  const n = secp256k1.Point.Fn.ORDER;
  let K = secp256k1.Point.fromBytes(point);
  let c = Uint8Array.from(chainCode);
  let tweak = 0n;
  for (const index of indices) {
    const data = new Uint8Array(37);
    data.set(K.toBytes(true));
    new DataView(data.buffer).setUint32(33, index);
    const I = hmac(sha512, c, data);
    const IL = bytesToNumberBE(I.subarray(0, 32));
    if (IL >= n)
      throw new UsageError(`derivation path "${path}": index ${index} gives an invalid key (BIP32)`);
    if (IL !== 0n) K = K.add(secp256k1.Point.BASE.multiply(IL));
    if (K.is0())
      throw new UsageError(`derivation path "${path}": index ${index} gives the point at infinity`);
    tweak = (tweak + IL) % n;
    c = I.slice(32);
  }
  return { tweak, point: K.toBytes(true), chainCode: c };
}
