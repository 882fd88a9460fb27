// EVM addresses: keccak-256 of the uncompressed public key, last 20 bytes, EIP-55 checksummed (viem).
import { bytesToHex, getAddress, isAddress } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { ChainError } from '../errors.ts';
import { uncompressPublicKey } from '../signature.ts';

export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';

/** Checksummed address of a 33-byte compressed secp256k1 key (Coffer's `ecdsa-secp256k1` format). */
export function evmAddressFromPublicKey(publicKey: Uint8Array, field = 'publicKey'): `0x${string}` {
  const uncompressed = uncompressPublicKey(publicKey, field);
  return publicKeyToAddress(bytesToHex(uncompressed));
}

/**
 * Parses an address: 0x + 40 hex digits; mixed case must carry a valid EIP-55 checksum; the zero
 * address is refused (funds sent there are burned). Returns the checksummed form.
 */
export function parseEvmAddress(value: unknown, field: string): `0x${string}` {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(value)) {
    throw new ChainError('invalid-address', field, 'must be 0x followed by 40 hex digits');
  }
  if (!isAddress(value, { strict: true })) {
    throw new ChainError('invalid-address', field, 'has a wrong EIP-55 checksum');
  }
  const address = getAddress(value);
  if (address === ZERO_ADDRESS) throw new ChainError('invalid-address', field, 'is the zero address');
  return address;
}
