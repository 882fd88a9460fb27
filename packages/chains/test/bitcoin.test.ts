// Bitcoin adapter: published vectors (BIP173, BIP86, BIP143, BIP341 key path), build → decode round trips for P2WPKH
// and P2TR, local signing validated and finalised by bitcoinjs-lib, fee/dust rules, and one test per
// decoder rejection.
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { crypto as bitcoinCrypto, networks, Psbt, payments, Transaction } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import {
  attachBitcoinSignatures,
  type BitcoinNetworkName,
  type BitcoinWallet,
  bitcoinSigningDigests,
  buildBitcoinTransfer,
  decodeBitcoinTransfer,
  dustThreshold,
  p2trAddress,
  p2wpkhAddress,
  walletOutput,
} from '../src/bitcoin/index.ts';
import { expectChainError, hex, loadVectors, signRecoverable, signSchnorr, unhex } from './helpers.ts';

type BitcoinVectors = {
  addresses: Array<{
    type: 'p2wpkh' | 'p2tr';
    network: BitcoinNetworkName;
    publicKey: string;
    address: string;
  }>;
  bip143: Array<{
    name: string;
    unsignedTx: string;
    inputIndex: number;
    publicKey: string;
    scriptCode: string;
    amount: string;
    sigHash: string;
  }>;
  bip341: {
    unsignedTx: string;
    utxosSpent: Array<{ scriptPubKey: string; amountSats: string }>;
    inputs: Array<{ inputIndex: number; hashType: number; sigHash: string; witness: string }>;
  };
};

const vectors = loadVectors<BitcoinVectors>('bitcoin.json');
const network: BitcoinNetworkName = 'regtest';
const ecdsaKey = secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(1));
const taprootKey = secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(2));
const wallets: Record<'p2wpkh' | 'p2tr', BitcoinWallet> = {
  p2wpkh: { type: 'p2wpkh', publicKey: secp256k1.getPublicKey(ecdsaKey, true) },
  // Coffer's Taproot key is already the output key; here a plain key plays that role.
  p2tr: { type: 'p2tr', publicKey: schnorr.getPublicKey(taprootKey) },
};
const outsider = p2wpkhAddress(
  secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(3)), true),
  network,
);
const outsider2 = p2trAddress(
  schnorr.getPublicKey(secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(4))),
  network,
);
const utxos = [
  { txid: 'aa'.repeat(32), vout: 0, value: 150_000n },
  { txid: 'bb'.repeat(32), vout: 3, value: 60_000n },
];

function sign(
  walletType: 'p2wpkh' | 'p2tr',
  digests: ReturnType<typeof bitcoinSigningDigests>,
): Uint8Array[] {
  return digests.map(({ digest, scheme }) =>
    scheme === 'ecdsa'
      ? signRecoverable(digest, ecdsaKey)
      : signSchnorr(digest, walletType === 'p2tr' ? taprootKey : ecdsaKey),
  );
}

describe('Bitcoin known answers', () => {
  it.each(vectors.addresses)('$type $network address $address', (vector) => {
    const make = vector.type === 'p2wpkh' ? p2wpkhAddress : p2trAddress;
    expect(make(unhex(vector.publicKey), vector.network)).toBe(vector.address);
  });

  it.each(vectors.bip143)('$name', (vector) => {
    // The BIP's script code is the P2PKH script of the key's hash, which is what the adapter uses.
    const scriptCode = payments.p2pkh({ hash: bitcoinCrypto.hash160(unhex(vector.publicKey)) }).output!;
    expect(hex(scriptCode)).toBe(vector.scriptCode);
    const tx = Transaction.fromHex(vector.unsignedTx);
    const digest = tx.hashForWitnessV0(
      vector.inputIndex,
      scriptCode,
      BigInt(vector.amount),
      Transaction.SIGHASH_ALL,
    );
    expect(hex(digest)).toBe(vector.sigHash);
  });

  // BIP341 key-path sighashes: the digest primitive the adapter uses for P2TR inputs
  // (hashForWitnessV1 over every spent output's script and amount), pinned for every hash type in the
  // BIP's vectors. The adapter signs with SIGHASH_DEFAULT (0x00); the others guard the primitive.
  const bip341 = vectors.bip341;
  it.each(bip341.inputs)('BIP341 key path, input $inputIndex, hash type $hashType', (vector) => {
    const tx = Transaction.fromHex(bip341.unsignedTx);
    const scripts = bip341.utxosSpent.map((u) => unhex(u.scriptPubKey));
    const values = bip341.utxosSpent.map((u) => BigInt(u.amountSats));
    const digest = tx.hashForWitnessV1(vector.inputIndex, scripts, values, vector.hashType);
    expect(hex(digest)).toBe(vector.sigHash);
    // Independent check: the BIP's signature for this input verifies over that digest (noble),
    // under the output key in the spent scriptPubKey (OP_1 <32 bytes>).
    const witness = unhex(vector.witness);
    expect(witness.length).toBe(vector.hashType === 0 ? 64 : 65);
    const outputKey = scripts[vector.inputIndex]!.subarray(2);
    expect(schnorr.verify(witness.subarray(0, 64), digest, outputKey)).toBe(true);
  });

  it('BIP341: a different spent amount changes the key-path sighash', () => {
    const tx = Transaction.fromHex(bip341.unsignedTx);
    const scripts = bip341.utxosSpent.map((u) => unhex(u.scriptPubKey));
    const values = bip341.utxosSpent.map((u) => BigInt(u.amountSats));
    values[2] = values[2]! + 1n;
    const vector = bip341.inputs.find((v) => v.hashType === 0)!;
    expect(hex(tx.hashForWitnessV1(vector.inputIndex, scripts, values, 0))).not.toBe(vector.sigHash);
  });

  it('dust thresholds match Bitcoin Core', () => {
    expect(dustThreshold(unhex(`76a914${'00'.repeat(20)}88ac`))).toBe(546n);
    expect(dustThreshold(unhex(`a914${'00'.repeat(20)}87`))).toBe(540n);
    expect(dustThreshold(unhex(`0014${'00'.repeat(20)}`))).toBe(294n);
    expect(dustThreshold(walletOutput(wallets.p2tr, network).script)).toBe(330n);
  });
});

describe.each(['p2wpkh', 'p2tr'] as const)('Bitcoin %s round trip', (type) => {
  const wallet = wallets[type];
  const own = walletOutput(wallet, network);
  const request = { network, wallet, utxos, to: outsider, amount: 100_000n, feeRateSatPerVb: 5n };

  it('build → decode equals the request; change back to the wallet is change', () => {
    const built = buildBitcoinTransfer(request);
    const decoded = decodeBitcoinTransfer(built.psbtBase64, { network, wallet });
    expect(decoded.intent).toEqual({
      chain: 'bitcoin',
      network,
      asset: { kind: 'native', symbol: 'BTC', decimals: 8 },
      from: own.address,
      to: outsider,
      amount: 100_000n,
      fee: built.intent.fee,
    });
    expect(decoded.intent).toEqual(built.intent);
    expect(decoded.change).toBe(210_000n - 100_000n - built.intent.fee);
    expect(built.intent.fee).toBe(decoded.vsize * 5n);
  });

  it('signed with a local key, validated and finalised by bitcoinjs-lib', () => {
    const built = buildBitcoinTransfer(request);
    const digests = bitcoinSigningDigests(built.psbtBase64, { network, wallet });
    expect(digests.map((d) => d.scheme)).toEqual(
      type === 'p2wpkh' ? ['ecdsa', 'ecdsa'] : ['schnorr', 'schnorr'],
    );
    const final = attachBitcoinSignatures(built.psbtBase64, sign(type, digests), { network, wallet });
    const tx = Transaction.fromHex(final.hex);
    expect(tx.getId()).toBe(final.txid);
    expect(tx.ins).toHaveLength(2);
    for (const [index, input] of tx.ins.entries()) {
      const witness = input.witness;
      if (type === 'p2wpkh') {
        expect(witness).toHaveLength(2);
        expect(hex(witness[1]!)).toBe(hex(wallet.publicKey));
        // Independent check: the DER signature verifies over the BIP143 digest with noble.
        const der = witness[0]!;
        expect(der[der.length - 1]).toBe(Transaction.SIGHASH_ALL);
        const signature = secp256k1.Signature.fromBytes(der.subarray(0, -1), 'der');
        expect(signature.hasHighS()).toBe(false);
        expect(
          secp256k1.verify(signature.toBytes(), digests[index]!.digest, wallet.publicKey, { prehash: false }),
        ).toBe(true);
      } else {
        expect(witness).toHaveLength(1);
        expect(witness[0]).toHaveLength(64);
        expect(schnorr.verify(witness[0]!, digests[index]!.digest, wallet.publicKey)).toBe(true);
      }
    }
    // The actual vsize never exceeds the estimate the fee was computed from.
    expect(BigInt(tx.virtualSize())).toBeLessThanOrEqual(
      decodeBitcoinTransfer(built.psbtBase64, { network, wallet }).vsize,
    );
  });

  it('refuses a signature by another key', async () => {
    const built = buildBitcoinTransfer(request);
    const digests = bitcoinSigningDigests(built.psbtBase64, { network, wallet });
    const other = secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(9));
    const signatures = digests.map(({ digest, scheme }) =>
      scheme === 'ecdsa' ? signRecoverable(digest, other) : signSchnorr(digest, other),
    );
    await expectChainError(
      () => attachBitcoinSignatures(built.psbtBase64, signatures, { network, wallet }),
      'invalid-signature',
      'signatures[0]',
    );
  });
});

describe('Bitcoin fees and dust', () => {
  const wallet = wallets.p2wpkh;
  const base = { network, wallet, utxos, to: outsider, amount: 100_000n, feeRateSatPerVb: 5n };

  it('drops change below dust into the fee', () => {
    const exact = buildBitcoinTransfer({ ...base, amount: 209_000n });
    expect(exact.change).toBe(0n);
    expect(exact.intent.fee).toBe(1_000n);
    expect(decodeBitcoinTransfer(exact.psbtBase64, { network, wallet }).change).toBe(0n);
  });

  it('refuses insufficient funds, dust amounts and out-of-range fee rates', async () => {
    await expectChainError(
      () => buildBitcoinTransfer({ ...base, amount: 210_000n }),
      'insufficient-funds',
      'utxos',
    );
    await expectChainError(() => buildBitcoinTransfer({ ...base, amount: 293n }), 'dust-output', 'amount');
    await expectChainError(
      () => buildBitcoinTransfer({ ...base, feeRateSatPerVb: 0n }),
      'fee-too-low',
      'feeRateSatPerVb',
    );
    await expectChainError(
      () => buildBitcoinTransfer({ ...base, feeRateSatPerVb: 501n }),
      'fee-too-high',
      'feeRateSatPerVb',
    );
    await expectChainError(
      () => buildBitcoinTransfer({ ...base, feeRateSatPerVb: 400n, maxFeeSat: 10_000n }),
      'fee-too-high',
      'feeRateSatPerVb',
    );
  });

  it('refuses addresses of another network and malformed ones', async () => {
    const mainnetAddress = p2wpkhAddress(wallet.publicKey, 'mainnet');
    await expectChainError(
      () => buildBitcoinTransfer({ ...base, to: mainnetAddress }),
      'network-mismatch',
      'to',
    );
    await expectChainError(
      () => buildBitcoinTransfer({ ...base, to: 'bcrt1qnotanaddress' }),
      'invalid-address',
      'to',
    );
  });

  it('refuses a public key of the wrong shape for the script type', async () => {
    await expectChainError(
      () => p2wpkhAddress(wallets.p2tr.publicKey, network),
      'invalid-public-key',
      'wallet.publicKey',
    );
    await expectChainError(
      () => p2trAddress(wallets.p2wpkh.publicKey, network),
      'invalid-public-key',
      'wallet.publicKey',
    );
  });
});

describe('Bitcoin decoder rejections', () => {
  const wallet = wallets.p2wpkh;
  const own = walletOutput(wallet, network);
  const options = { network, wallet };
  const regtestPsbt = (edit: (psbt: Psbt) => void, outputs: Array<{ address: string; value: bigint }>) => {
    const psbt = new Psbt({ network: networks.regtest });
    psbt.setVersion(2);
    psbt.addInput({
      hash: 'aa'.repeat(32),
      index: 0,
      sequence: 0xfffffffd,
      witnessUtxo: { script: own.script, value: 150_000n },
    });
    for (const output of outputs) psbt.addOutput({ address: output.address, value: output.value });
    edit(psbt);
    return psbt.toBase64();
  };
  const none = () => {};

  it('several outputs to outsiders', async () => {
    const psbt = regtestPsbt(none, [
      { address: outsider, value: 50_000n },
      { address: outsider2, value: 50_000n },
    ]);
    await expectChainError(() => decodeBitcoinTransfer(psbt, options), 'multiple-recipients', 'outputs[1]');
  });

  it('nothing leaves the wallet', async () => {
    const psbt = regtestPsbt(none, [{ address: own.address, value: 149_000n }]);
    await expectChainError(() => decodeBitcoinTransfer(psbt, options), 'no-recipient', 'outputs');
  });

  it('an input that does not belong to the wallet', async () => {
    const psbt = regtestPsbt(
      (p) =>
        p.addInput({
          hash: 'cc'.repeat(32),
          index: 1,
          witnessUtxo: { script: walletOutput(wallets.p2tr, network).script, value: 1_000n },
        }),
      [{ address: outsider, value: 100_000n }],
    );
    await expectChainError(
      () => decodeBitcoinTransfer(psbt, options),
      'foreign-input',
      'inputs[1].witnessUtxo.script',
    );
  });

  it('an input without its spent value (no witnessUtxo)', async () => {
    const psbt = regtestPsbt(
      (p) => p.addInput({ hash: 'cc'.repeat(32), index: 1 }),
      [{ address: outsider, value: 100_000n }],
    );
    await expectChainError(
      () => decodeBitcoinTransfer(psbt, options),
      'foreign-input',
      'inputs[1].witnessUtxo',
    );
  });

  it('an OP_RETURN (non-standard) output', async () => {
    const psbt = regtestPsbt(
      (p) => p.addOutput({ script: unhex('6a04deadbeef'), value: 1_000n }),
      [{ address: outsider, value: 100_000n }],
    );
    await expectChainError(
      () => decodeBitcoinTransfer(psbt, options),
      'unsupported-transaction',
      'outputs[1].script',
    );
  });

  it('a dust output', async () => {
    const psbt = regtestPsbt(none, [
      { address: outsider, value: 100_000n },
      { address: own.address, value: 100n },
    ]);
    await expectChainError(() => decodeBitcoinTransfer(psbt, options), 'dust-output', 'outputs[1].value');
  });

  it('a fee above the cap (outputs far below inputs)', async () => {
    const psbt = regtestPsbt(none, [{ address: outsider, value: 10_000n }]);
    await expectChainError(() => decodeBitcoinTransfer(psbt, options), 'fee-too-high', 'fee');
  });

  it('outputs exceeding inputs', async () => {
    const psbt = regtestPsbt(none, [{ address: outsider, value: 150_001n }]);
    await expectChainError(() => decodeBitcoinTransfer(psbt, options), 'malformed-transaction', 'outputs');
  });

  it('a fee below 1 sat/vB', async () => {
    const psbt = regtestPsbt(none, [{ address: outsider, value: 149_990n }]);
    await expectChainError(() => decodeBitcoinTransfer(psbt, options), 'fee-too-low', 'fee');
  });

  it('a non-zero locktime', async () => {
    const psbt = regtestPsbt((p) => p.setLocktime(800_000), [{ address: outsider, value: 100_000n }]);
    await expectChainError(() => decodeBitcoinTransfer(psbt, options), 'unexpected-field', 'psbt.locktime');
  });

  it('a relative-timelock sequence', async () => {
    const psbt = regtestPsbt((p) => p.setInputSequence(0, 144), [{ address: outsider, value: 100_000n }]);
    await expectChainError(
      () => decodeBitcoinTransfer(psbt, options),
      'unexpected-field',
      'inputs[0].sequence',
    );
  });

  it('a sighash type other than the default', async () => {
    const psbt = regtestPsbt(
      (p) => p.updateInput(0, { sighashType: 0x83 }),
      [{ address: outsider, value: 100_000n }],
    );
    await expectChainError(
      () => decodeBitcoinTransfer(psbt, options),
      'unexpected-field',
      'inputs[0].sighashType',
    );
  });

  it('an output with PSBT extras it cannot account for', async () => {
    const psbt = regtestPsbt(
      (p) => p.data.addUnknownKeyValToOutput(0, { key: unhex('fc00'), value: unhex('01') }),
      [{ address: outsider, value: 100_000n }],
    );
    await expectChainError(
      () => decodeBitcoinTransfer(psbt, options),
      'unexpected-field',
      'outputs[0].unknownKeyVals',
    );
  });

  it('an already-signed PSBT', async () => {
    const built = buildBitcoinTransfer({
      network,
      wallet,
      utxos,
      to: outsider,
      amount: 100_000n,
      feeRateSatPerVb: 5n,
    });
    const psbt = Psbt.fromBase64(built.psbtBase64);
    psbt.updateInput(0, {
      partialSig: [{ pubkey: wallet.publicKey, signature: unhex(`3006020101020101${'01'}`) }],
    });
    await expectChainError(
      () => decodeBitcoinTransfer(psbt.toBase64(), options),
      'already-signed',
      'inputs[0].partialSig',
    );
  });

  it('bytes that are not a PSBT', async () => {
    await expectChainError(
      () => decodeBitcoinTransfer('cHNidP8BAA==', options),
      'malformed-transaction',
      'psbt',
    );
    await expectChainError(() => decodeBitcoinTransfer(42, options), 'malformed-transaction', 'psbt');
  });

  it('a change address of another network', async () => {
    const built = buildBitcoinTransfer({
      network,
      wallet,
      utxos,
      to: outsider,
      amount: 100_000n,
      feeRateSatPerVb: 5n,
    });
    const mainnetChange = p2wpkhAddress(wallet.publicKey, 'mainnet');
    await expectChainError(
      () => decodeBitcoinTransfer(built.psbtBase64, { ...options, changeAddresses: [mainnetChange] }),
      'network-mismatch',
      'changeAddresses[0]',
    );
  });

  it('recognises change to another configured wallet address', () => {
    const second = p2wpkhAddress(
      secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(7)), true),
      network,
    );
    const psbt = regtestPsbt(none, [
      { address: outsider, value: 100_000n },
      { address: second, value: 49_000n },
    ]);
    const decoded = decodeBitcoinTransfer(psbt, { ...options, changeAddresses: [second] });
    expect(decoded.change).toBe(49_000n);
    expect(decoded.intent.to).toBe(outsider);
  });
});
