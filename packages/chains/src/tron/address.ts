// TRON addresses: 0x41 ‖ last 20 bytes of keccak-256(uncompressed key), Base58Check (tronweb).
import { utils } from 'tronweb';
import { ChainError } from '../errors.ts';
import { uncompressPublicKey } from '../signature.ts';

export function tronAddressFromPublicKey(publicKey: Uint8Array, field = 'publicKey'): string {
  const address = utils.crypto.computeAddress(uncompressPublicKey(publicKey, field));
  return utils.crypto.getBase58CheckAddress(address);
}

/** 21 bytes (0x41 ‖ 20) of a Base58Check TRON address; refuses anything else. */
export function parseTronAddress(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string' || !/^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(value)) {
    throw new ChainError(
      'invalid-address',
      field,
      'must be a 34-character Base58Check address starting with T',
    );
  }
  let decoded: number[] | false;
  try {
    decoded = utils.crypto.decodeBase58Address(value);
  } catch {
    decoded = false;
  }
  if (decoded === false || decoded.length !== 21 || decoded[0] !== 0x41) {
    throw new ChainError('invalid-address', field, 'bad Base58Check checksum or prefix');
  }
  return Uint8Array.from(decoded);
}

/** Base58Check form of 21 address bytes; refuses a wrong prefix or length. */
export function formatTronAddress(bytes: Uint8Array, field: string): string {
  if (bytes.length !== 21 || bytes[0] !== 0x41) {
    throw new ChainError('invalid-address', field, 'must be 21 bytes starting with 0x41');
  }
  return utils.crypto.getBase58CheckAddress(Array.from(bytes));
}
