// Coffer's ECDSA signatures (DKLs23 output) are 65 bytes r‖s‖recovery with low s. This module checks
// that shape once, for every chain, before any encoding.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ChainError } from './errors.ts';

const N = secp256k1.Point.CURVE().n;

export interface RecoverableSignature {
  r: bigint;
  s: bigint;
  /** 0 or 1: parity of R's y coordinate. */
  recovery: 0 | 1;
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** Parses and range-checks a 65-byte r‖s‖recovery signature (recovery 0/1, or 27/28 accepted). */
export function parseRecoverableSignature(signature: Uint8Array, field = 'signature'): RecoverableSignature {
  if (!(signature instanceof Uint8Array) || signature.length !== 65) {
    throw new ChainError('invalid-signature', field, 'must be 65 bytes r‖s‖recovery');
  }
  const r = bytesToBigInt(signature.subarray(0, 32));
  const s = bytesToBigInt(signature.subarray(32, 64));
  const v = signature[64]!;
  if (r === 0n || r >= N) throw new ChainError('invalid-signature', `${field}.r`, 'out of range');
  if (s === 0n || s >= N) throw new ChainError('invalid-signature', `${field}.s`, 'out of range');
  if (s > N >> 1n) throw new ChainError('invalid-signature', `${field}.s`, 'must be low-s (BIP62/EIP-2)');
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) {
    throw new ChainError('invalid-signature', `${field}.recovery`, `must be 0 or 1 (or 27/28), got ${v}`);
  }
  return { r, s, recovery };
}

/** 64-byte compact r‖s of a parsed signature. */
export function compactSignature(signature: RecoverableSignature): Uint8Array {
  return new secp256k1.Signature(signature.r, signature.s).toBytes('compact');
}

/** Checks a 33-byte compressed secp256k1 point; returns it. */
export function checkCompressedPublicKey(publicKey: Uint8Array, field = 'publicKey'): Uint8Array {
  if (
    !(publicKey instanceof Uint8Array) ||
    publicKey.length !== 33 ||
    (publicKey[0] !== 2 && publicKey[0] !== 3)
  ) {
    throw new ChainError('invalid-public-key', field, 'must be a 33-byte compressed secp256k1 key');
  }
  try {
    secp256k1.Point.fromBytes(publicKey).assertValidity();
  } catch {
    throw new ChainError('invalid-public-key', field, 'is not a point on secp256k1');
  }
  return publicKey;
}

/** Uncompressed 65-byte form of a checked compressed key. */
export function uncompressPublicKey(publicKey: Uint8Array, field = 'publicKey'): Uint8Array {
  return secp256k1.Point.fromBytes(checkCompressedPublicKey(publicKey, field)).toBytes(false);
}
