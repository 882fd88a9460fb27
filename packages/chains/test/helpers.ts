// Test helpers: a local single-key signer (noble) that returns Coffer's signature formats, vector
// loading, and an assertion on ChainError codes and fields.
import { readFileSync } from 'node:fs';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { expect } from 'vitest';
import { ChainError, type ChainErrorCode } from '../src/errors.ts';

/** 65-byte r‖s‖recovery, low s: the format Coffer's DKLs23 signing returns. */
export function signRecoverable(digest: Uint8Array, privateKey: Uint8Array): Uint8Array {
  // noble's 'recovered' format is recovery‖r‖s.
  const recovered = secp256k1.sign(digest, privateKey, { prehash: false, format: 'recovered', lowS: true });
  const signature = new Uint8Array(65);
  signature.set(recovered.subarray(1), 0);
  signature[64] = recovered[0]!;
  return signature;
}

/** BIP340 signature of a digest (what Coffer's FROST Taproot signing returns). */
export function signSchnorr(digest: Uint8Array, privateKey: Uint8Array): Uint8Array {
  return schnorr.sign(digest, privateKey, new Uint8Array(32));
}

export function compressedPublicKey(privateKey: Uint8Array): Uint8Array {
  return secp256k1.getPublicKey(privateKey, true);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function unhex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/^0x/, ''), 'hex'));
}

export function loadVectors<T>(name: string): T {
  const url = new URL(`../../../test-vectors/data/chains/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

/** Runs `fn` (sync or async) and asserts it throws a ChainError with `code` (and `field`, if given). */
export async function expectChainError(
  fn: () => unknown,
  code: ChainErrorCode,
  field?: string,
): Promise<ChainError> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ChainError ${code}`).toBeInstanceOf(ChainError);
  const error = caught as ChainError;
  expect(error.code, error.message).toBe(code);
  if (field !== undefined) expect(error.field, error.message).toBe(field);
  return error;
}
