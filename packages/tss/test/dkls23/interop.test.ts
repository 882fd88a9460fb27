// Interoperability: DKLs23 signatures are plain ECDSA that Ethereum (viem) and Bitcoin
// (bitcoinjs-lib, P2WPKH) accept under the (derived) public key.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import * as bitcoin from 'bitcoinjs-lib';
import { recoverAddress } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { derivePublicKey } from '../../src/dkls23/index.ts';
import { seededRng } from '../../src/rng.ts';
import { keygen, pick, sign } from './fixtures.ts';

describe('DKLs23 interoperability', () => {
  const shares = keygen(2, 3, 'interop-keygen');

  it('viem recoverAddress returns the address of the derived key', async () => {
    const path = 'm/44/60/0/0/5';
    const digest = seededRng('eth-digest')(32);
    const sig = sign(pick(shares, [1, 3]), digest, 'eth-sign', path);
    const child = derivePublicKey(shares[0]!, path);
    const uncompressed = secp256k1.Point.fromBytes(child).toBytes(false);
    const expected = publicKeyToAddress(`0x${bytesToHex(uncompressed)}`);
    const signature = `0x${bytesToHex(sig.slice(0, 64))}${(27 + sig[64]!).toString(16)}` as const;
    const recovered = await recoverAddress({ hash: `0x${bytesToHex(digest)}`, signature });
    expect(recovered).toBe(expected);
  });

  it('bitcoinjs-lib accepts the signature on a P2WPKH input and finalises the transaction', () => {
    const path = 'm/0/7';
    const pubkey = derivePublicKey(shares[0]!, path);
    const network = bitcoin.networks.regtest;
    const payment = bitcoin.payments.p2wpkh({ pubkey, network });
    const psbt = new bitcoin.Psbt({ network });
    psbt.addInput({
      hash: bytesToHex(seededRng('prev-tx')(32)),
      index: 0,
      witnessUtxo: { script: payment.output!, value: 100_000n },
    });
    psbt.addOutput({ address: payment.address!, value: 99_000n });
    let n = 0;
    psbt.signInput(0, {
      publicKey: pubkey,
      sign: (hash: Uint8Array) => sign(pick(shares, [2, 3]), hash, `btc-sign-${n++}`, path).slice(0, 64),
    });
    const valid = psbt.validateSignaturesOfInput(0, (pk, msghash, signature) =>
      secp256k1.verify(signature, msghash, pk, { prehash: false }),
    );
    expect(valid).toBe(true);
    psbt.finalizeAllInputs();
    const tx = psbt.extractTransaction();
    expect(tx.ins[0]!.witness.length).toBe(2);
    expect(bytesToHex(tx.ins[0]!.witness[1]!)).toBe(bytesToHex(pubkey));
    expect(hexToBytes(tx.toHex()).length).toBeGreaterThan(0);
  });
});
