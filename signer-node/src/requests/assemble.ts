// Turns a threshold signature into the chain's signed transaction (EVM: r, s, yParity; TRON:
// r‖s‖(recovery + 27) on the raw data) and verifies it recovers to the wallet before anything is
// broadcast; and the broadcaster for the configured EVM endpoint.
import { EvmBroadcaster } from '@coffer/chains/evm';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import type { ChainsConfig } from '../config/config.ts';
import { type RequestBundle, unsignedTransactionText } from '../policy/bundle.ts';

export interface Assembled {
  /** The chain's signed transaction (EVM: 0x hex; TRON: JSON {txID, raw_data_hex, signature}). */
  signedTransaction: string | null;
  txHash: string | null;
}

export async function assembleSigned(
  bundle: RequestBundle,
  signature: Uint8Array,
  chains: ChainsConfig,
): Promise<Assembled> {
  const request = bundle.request;
  if (request.kind === 'raw-digest') return { signedTransaction: null, txHash: null };
  const { chain, from } = request.intent;
  if (chain === 'evm') {
    const { attachEvmSignature } = await import('@coffer/chains/evm');
    const unsigned = unsignedTransactionText('evm', request.unsignedTransaction) as `0x${string}`;
    const signed = await attachEvmSignature(unsigned, signature, { from });
    return { signedTransaction: signed, txHash: `0x${bytesToHex(keccak_256(hexToBytes(signed.slice(2))))}` };
  }
  if (chain === 'tron') {
    if (chains.tron === undefined) throw new Error('no chains.tron configuration');
    const { tronAddressFromPublicKey } = await import('@coffer/chains/tron');
    if (signature.length !== 65) throw new Error('a TRON signature is 65 bytes r‖s‖recovery');
    const rawDataHex = bytesToHex(request.unsignedTransaction);
    const txId = sha256(request.unsignedTransaction);
    const recovered = secp256k1.Signature.fromBytes(signature.subarray(0, 64), 'compact')
      .addRecoveryBit(signature[64]!)
      .recoverPublicKey(txId)
      .toBytes(true);
    const address = tronAddressFromPublicKey(recovered);
    if (address !== from) throw new Error(`the signature recovers to ${address}, not the wallet ${from}`);
    const v = (signature[64]! + 27).toString(16).padStart(2, '0');
    const signedTransaction = JSON.stringify({
      txID: bytesToHex(txId),
      raw_data_hex: rawDataHex,
      signature: [`${bytesToHex(signature.subarray(0, 64))}${v}`],
    });
    return { signedTransaction, txHash: bytesToHex(txId) };
  }
  throw new Error(`${chain} transactions are not assembled by this node`);
}

/** The EVM broadcaster for chains.evm.rpcUrl, or undefined when none is configured. */
export function broadcasterFor(chains: ChainsConfig): EvmBroadcaster | undefined {
  const url = chains.evm?.rpcUrl;
  if (url === undefined) return undefined;
  return new EvmBroadcaster({ url, timeoutMs: 5_000, retries: 1, retryDelayMs: 200 });
}
