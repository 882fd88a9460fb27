// Assembly of a threshold signature into the chain's signed transaction: EVM (r, s, yParity; the
// transaction hash is keccak-256 of the signed bytes) and TRON (r‖s‖(recovery + 27), cross-checked
// against @coffer/chains' tronweb-backed attach); a signature by any other key is refused before
// anything could be broadcast.
import { buildEvmTransfer, evmAddressFromPublicKey, evmSigningDigest } from '@coffer/chains/evm';
import {
  attachTronSignature,
  buildTronTransfer,
  type TronNetwork,
  tronAddressFromPublicKey,
  tronSigningDigest,
} from '@coffer/chains/tron';
import type { PolicyRequest } from '@coffer/policy/request';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { signRecoverable } from '../../packages/chains/test/helpers.ts';
import { makeBundle } from '../src/policy/bundle.ts';
import { assembleSigned } from '../src/requests/assemble.ts';

const walletKey = secp256k1.utils.randomSecretKey();
const otherKey = secp256k1.utils.randomSecretKey();
const publicKey = secp256k1.getPublicKey(walletKey, true);
const TRON: TronNetwork = { name: 'nile', tokens: [], maxFeeLimitSun: 100_000_000n };

function bundleOf(request: PolicyRequest) {
  return makeBundle({ id: 'req-000000000000000000000001', keyId: 'ab'.repeat(32), path: 'm', request });
}

describe('assembling signed transactions', () => {
  const from = evmAddressFromPublicKey(publicKey);
  const built = buildEvmTransfer({
    network: { chainId: 31337, nativeSymbol: 'ETH', tokens: [], maxFeeWei: 10n ** 17n },
    from,
    to: `0x${'4e'.repeat(20)}`,
    amount: 10n ** 15n,
    nonce: 3,
    gas: 21_000n,
    maxFeePerGas: 2_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
  });
  const evm = bundleOf({
    kind: 'transfer',
    wallet: 'hot-eth',
    operator: 'otc',
    submittedAtMs: 1,
    requestId: 'order-1',
    unsignedTransaction: hexToBytes(built.serialized.slice(2)),
    intent: built.intent,
  });

  it('EVM: attaches the signature and hashes the signed bytes', async () => {
    const signature = signRecoverable(evmSigningDigest(built.serialized), walletKey);
    const out = await assembleSigned(evm, signature, {});
    expect(out.signedTransaction).toMatch(/^0x02/);
    expect(out.txHash).toBe(`0x${bytesToHex(keccak_256(hexToBytes(out.signedTransaction!.slice(2))))}`);
    // r and s appear in the signed serialisation.
    expect(out.signedTransaction).toContain(bytesToHex(signature.subarray(0, 32)));
  });

  it('EVM: a signature by another key is refused', async () => {
    const signature = signRecoverable(evmSigningDigest(built.serialized), otherKey);
    await expect(assembleSigned(evm, signature, {})).rejects.toThrow(/recovers to/);
  });

  it('TRON: r‖s‖(v + 27) over the raw data, the same signature the tronweb-backed attach produces', async () => {
    const tronFrom = tronAddressFromPublicKey(publicKey);
    const { transaction, intent } = buildTronTransfer({
      network: TRON,
      from: tronFrom,
      to: tronAddressFromPublicKey(secp256k1.getPublicKey(otherKey, true)),
      amount: 1_000_000n,
      refBlock: { number: 1, hash: 'cd'.repeat(32) },
      timestampMs: Date.now(),
    });
    const bundle = bundleOf({
      kind: 'transfer',
      wallet: 'hot-trx',
      operator: 'otc',
      submittedAtMs: 1,
      requestId: 'order-2',
      unsignedTransaction: hexToBytes(transaction.raw_data_hex),
      intent,
    });
    const signature = signRecoverable(tronSigningDigest(transaction.raw_data_hex), walletKey);
    const chains = {
      tron: { network: 'nile', maxFeeLimitSun: 100_000_000n, tokens: [] },
    };
    const out = await assembleSigned(bundle, signature, chains);
    const signed = JSON.parse(out.signedTransaction!) as { txID: string; signature: string[] };
    const reference = attachTronSignature(transaction, signature, { network: TRON, from: tronFrom });
    expect(signed.signature).toEqual(reference.signature);
    expect(signed.txID).toBe(transaction.txID);
    expect(out.txHash).toBe(transaction.txID);
    const forged = signRecoverable(tronSigningDigest(transaction.raw_data_hex), otherKey);
    await expect(assembleSigned(bundle, forged, chains)).rejects.toThrow(/recovers to/);
  });

  it('a raw digest has no transaction to assemble', async () => {
    const raw = bundleOf({
      kind: 'raw-digest',
      wallet: 'raw',
      operator: 'otc',
      submittedAtMs: 1,
      requestId: 'r',
      digest: new Uint8Array(32),
    });
    expect(await assembleSigned(raw, new Uint8Array(65), {})).toEqual({
      signedTransaction: null,
      txHash: null,
    });
  });
});
