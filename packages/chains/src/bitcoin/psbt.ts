// Bitcoin transfers as PSBTs (BIP174): build from caller-supplied UTXOs, strict decode into an
// intent, per-input digests (BIP143 for P2WPKH, BIP341 for P2TR key path), attach ECDSA (DER,
// low-s) or BIP340 signatures, finalise to raw hex. Every input spends the wallet's own script.
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { crypto as bitcoinCrypto, script as bitcoinScript, Psbt, payments, Transaction } from 'bitcoinjs-lib';
import { BITCOIN_MAX_MONEY, checkAmount } from '../amounts.ts';
import { ChainError, wrapErrors } from '../errors.ts';
import type { TransferIntent } from '../intent.ts';
import { compactSignature, parseRecoverableSignature } from '../signature.ts';
import {
  addressToScript,
  type BitcoinNetworkName,
  type BitcoinWallet,
  bitcoinNetwork,
  classifyScript,
  ensureEcc,
  scriptToAddress,
  walletOutput,
} from './address.ts';

export interface Utxo {
  /** Funding transaction id, display (big-endian) hex. */
  txid: string;
  vout: number;
  /** Satoshis. */
  value: bigint;
}

export interface BitcoinFeePolicy {
  /** Refuse fee rates above this (sat/vB). Default 500. */
  maxFeeRateSatPerVb?: bigint;
  /** Refuse absolute fees above this (sat). Default 0.01 BTC. */
  maxFeeSat?: bigint;
}

export interface BitcoinTransferRequest extends BitcoinFeePolicy {
  network: BitcoinNetworkName;
  wallet: BitcoinWallet;
  /** Every UTXO is spent (coin selection is the caller's). All must pay to the wallet's script. */
  utxos: readonly Utxo[];
  to: string;
  amount: bigint;
  feeRateSatPerVb: bigint;
  /** Where change goes; the wallet's own address by default. */
  changeAddress?: string;
}

export interface UnsignedBitcoinTransfer {
  psbtBase64: string;
  intent: TransferIntent;
  /** Change output value, 0 when the remainder was below dust and went to the fee. */
  change: bigint;
}

const DEFAULT_MAX_FEE_RATE = 500n;
const DEFAULT_MAX_FEE = 1_000_000n;
const MAX_INPUTS = 250;
const SEQUENCE_RBF = 0xfffffffd;
const ACCEPTED_SEQUENCES = new Set([0xfffffffd, 0xfffffffe, 0xffffffff]);
/** Bitcoin Core's dust relay fee (sat/kvB) used for dust thresholds. */
const DUST_RELAY_FEE_PER_KVB = 3000n;

/** Witness weight of one input's signature data: upper bound for a low-s DER (72 + 1 sighash). */
const WITNESS_WEIGHT: Record<BitcoinWallet['type'], number> = {
  p2wpkh: 1 + 1 + 72 + 1 + 33,
  p2tr: 1 + 1 + 64,
};

/** Virtual size upper bound of a transaction with these inputs and output scripts. */
export function estimateVsize(
  walletType: BitcoinWallet['type'],
  inputs: number,
  outputScripts: readonly Uint8Array[],
): bigint {
  // version + locktime + input/output counts (one byte each below 253), then inputs and outputs.
  let base = 4 + 4 + 1 + 1 + inputs * (32 + 4 + 1 + 4);
  for (const script of outputScripts) base += 8 + 1 + script.length;
  const weight = base * 4 + 2 + inputs * WITNESS_WEIGHT[walletType];
  return BigInt(Math.ceil(weight / 4));
}

/** Bitcoin Core's dust threshold for an output script (546 P2PKH, 540 P2SH, 294 P2WPKH, 330 P2WSH/P2TR). */
export function dustThreshold(script: Uint8Array): bigint {
  const type = classifyScript(script);
  const spendSize = type === 'p2pkh' || type === 'p2sh' ? 148 : 67;
  return (BigInt(8 + 1 + script.length + spendSize) * DUST_RELAY_FEE_PER_KVB) / 1000n;
}

function feePolicy(policy: BitcoinFeePolicy): { maxRate: bigint; maxFee: bigint } {
  return {
    maxRate: policy.maxFeeRateSatPerVb ?? DEFAULT_MAX_FEE_RATE,
    maxFee: policy.maxFeeSat ?? DEFAULT_MAX_FEE,
  };
}

function checkUtxo(utxo: Utxo, index: number): void {
  const field = `utxos[${index}]`;
  if (typeof utxo.txid !== 'string' || !/^[0-9a-f]{64}$/.test(utxo.txid)) {
    throw new ChainError('invalid-argument', `${field}.txid`, 'must be 64 lowercase hex digits');
  }
  if (!Number.isInteger(utxo.vout) || utxo.vout < 0 || utxo.vout > 0xffffffff) {
    throw new ChainError('invalid-argument', `${field}.vout`, 'must be a 32-bit unsigned integer');
  }
  checkAmount(utxo.value, `${field}.value`, BITCOIN_MAX_MONEY);
}

function intentOf(
  network: BitcoinNetworkName,
  from: string,
  to: string,
  amount: bigint,
  fee: bigint,
): TransferIntent {
  return {
    chain: 'bitcoin',
    network,
    asset: { kind: 'native', symbol: 'BTC', decimals: 8 },
    from,
    to,
    amount,
    fee,
  };
}

/** Builds an unsigned PSBT spending every UTXO to `to`, with change back to the wallet unless dust. */
export function buildBitcoinTransfer(request: BitcoinTransferRequest): UnsignedBitcoinTransfer {
  const { network, wallet } = request;
  const own = walletOutput(wallet, network);
  const toScript = addressToScript(request.to, network, 'to');
  const changeScript = addressToScript(request.changeAddress ?? own.address, network, 'changeAddress');
  const amount = checkAmount(request.amount, 'amount', BITCOIN_MAX_MONEY);
  if (amount < dustThreshold(toScript)) {
    throw new ChainError('dust-output', 'amount', `below the dust threshold ${dustThreshold(toScript)} sat`);
  }
  const { maxRate, maxFee } = feePolicy(request);
  const rate = request.feeRateSatPerVb;
  if (typeof rate !== 'bigint' || rate < 1n)
    throw new ChainError('fee-too-low', 'feeRateSatPerVb', 'must be ≥ 1 sat/vB');
  if (rate > maxRate) throw new ChainError('fee-too-high', 'feeRateSatPerVb', `above ${maxRate} sat/vB`);
  if (request.utxos.length === 0 || request.utxos.length > MAX_INPUTS) {
    throw new ChainError('invalid-argument', 'utxos', `must hold 1 to ${MAX_INPUTS} UTXOs`);
  }
  const seen = new Set<string>();
  let total = 0n;
  request.utxos.forEach((utxo, index) => {
    checkUtxo(utxo, index);
    const outpoint = `${utxo.txid}:${utxo.vout}`;
    if (seen.has(outpoint))
      throw new ChainError('invalid-argument', `utxos[${index}]`, `duplicate outpoint ${outpoint}`);
    seen.add(outpoint);
    total += utxo.value;
  });
  const inputs = request.utxos.length;
  const feeWithoutChange = estimateVsize(wallet.type, inputs, [toScript]) * rate;
  if (total < amount + feeWithoutChange) {
    throw new ChainError(
      'insufficient-funds',
      'utxos',
      `${total} sat cannot pay ${amount} + fee ${feeWithoutChange}`,
    );
  }
  const feeWithChange = estimateVsize(wallet.type, inputs, [toScript, changeScript]) * rate;
  let change = total - amount - feeWithChange;
  if (change < dustThreshold(changeScript)) change = 0n;
  const fee = total - amount - change;
  if (fee > maxFee) throw new ChainError('fee-too-high', 'feeRateSatPerVb', `fee ${fee} sat above ${maxFee}`);

  const psbt = new Psbt({ network: bitcoinNetwork(network) });
  psbt.setVersion(2);
  psbt.setLocktime(0);
  for (const utxo of request.utxos) {
    psbt.addInput({
      hash: utxo.txid,
      index: utxo.vout,
      sequence: SEQUENCE_RBF,
      witnessUtxo: { script: own.script, value: utxo.value },
    });
  }
  psbt.addOutput({ script: toScript, value: amount });
  if (change > 0n) psbt.addOutput({ script: changeScript, value: change });
  return {
    psbtBase64: psbt.toBase64(),
    intent: intentOf(network, own.address, scriptToAddress(toScript, network), amount, fee),
    change,
  };
}

export interface DecodeBitcoinOptions extends BitcoinFeePolicy {
  network: BitcoinNetworkName;
  wallet: BitcoinWallet;
  /** Addresses besides the wallet's own that count as change (the wallet's other addresses). */
  changeAddresses?: readonly string[];
}

export interface DecodedBitcoinTransfer {
  intent: TransferIntent;
  change: bigint;
  inputs: number;
  vsize: bigint;
}

const equalBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((byte, i) => byte === b[i]);

const INPUT_FIELDS_ALLOWED = new Set(['witnessUtxo', 'unknownKeyVals']);
const SIGNED_INPUT_FIELDS = new Set([
  'partialSig',
  'tapKeySig',
  'tapScriptSig',
  'finalScriptSig',
  'finalScriptWitness',
]);

function parsePsbt(psbtBase64: unknown, network: BitcoinNetworkName): Psbt {
  if (typeof psbtBase64 !== 'string' || psbtBase64.length === 0 || psbtBase64.length > 1_000_000) {
    throw new ChainError('malformed-transaction', 'psbt', 'must be a base64 string');
  }
  ensureEcc();
  const psbt = wrapErrors('malformed-transaction', 'psbt', () =>
    Psbt.fromBase64(psbtBase64, { network: bitcoinNetwork(network) }),
  );
  if (psbt.toBase64() !== psbtBase64)
    throw new ChainError('malformed-transaction', 'psbt', 'non-canonical encoding');
  return psbt;
}

/** Refuses any PSBT map entry the decoder does not account for. */
function checkPsbtFields(psbt: Psbt): void {
  const global = psbt.data.globalMap;
  for (const key of Object.keys(global)) {
    if (key === 'unsignedTx') continue;
    if (key === 'unknownKeyVals' && (global.unknownKeyVals?.length ?? 0) === 0) continue;
    throw new ChainError('unexpected-field', `psbt.global.${key}`, 'is not accounted for');
  }
  psbt.data.inputs.forEach((input, index) => {
    for (const [key, value] of Object.entries(input)) {
      if (value === undefined) continue;
      if (SIGNED_INPUT_FIELDS.has(key)) {
        throw new ChainError(
          'already-signed',
          `inputs[${index}].${key}`,
          'the decoder only accepts unsigned PSBTs',
        );
      }
      if (!INPUT_FIELDS_ALLOWED.has(key) || (key === 'unknownKeyVals' && (value as unknown[]).length > 0)) {
        throw new ChainError('unexpected-field', `inputs[${index}].${key}`, 'is not accounted for');
      }
    }
  });
  psbt.data.outputs.forEach((output, index) => {
    for (const [key, value] of Object.entries(output)) {
      if (value === undefined || (key === 'unknownKeyVals' && (value as unknown[]).length === 0)) continue;
      throw new ChainError('unexpected-field', `outputs[${index}].${key}`, 'is not accounted for');
    }
  });
}

/**
 * Decodes an unsigned PSBT into an intent. Every input must spend the wallet's script with its
 * value stated (witnessUtxo); outputs to the wallet or `changeAddresses` are change; exactly one
 * other output is the recipient.
 */
export function decodeBitcoinTransfer(
  psbtBase64: unknown,
  options: DecodeBitcoinOptions,
): DecodedBitcoinTransfer {
  const { network, wallet } = options;
  const own = walletOutput(wallet, network);
  const changeScripts = [
    own.script,
    ...(options.changeAddresses ?? []).map((a, i) => addressToScript(a, network, `changeAddresses[${i}]`)),
  ];
  const psbt = parsePsbt(psbtBase64, network);
  checkPsbtFields(psbt);
  if (psbt.version !== 1 && psbt.version !== 2) {
    throw new ChainError('unsupported-transaction', 'psbt.version', `transaction version ${psbt.version}`);
  }
  if (psbt.locktime !== 0)
    throw new ChainError('unexpected-field', 'psbt.locktime', `non-zero locktime ${psbt.locktime}`);
  const inputs = psbt.txInputs;
  if (inputs.length === 0 || inputs.length > MAX_INPUTS) {
    throw new ChainError('malformed-transaction', 'inputs', `must hold 1 to ${MAX_INPUTS} inputs`);
  }
  const seen = new Set<string>();
  let totalIn = 0n;
  inputs.forEach((input, index) => {
    const outpoint = `${Buffer.from(input.hash).toString('hex')}:${input.index}`;
    if (seen.has(outpoint))
      throw new ChainError('malformed-transaction', `inputs[${index}]`, 'duplicate outpoint');
    seen.add(outpoint);
    if (!ACCEPTED_SEQUENCES.has(input.sequence ?? 0xffffffff)) {
      throw new ChainError(
        'unexpected-field',
        `inputs[${index}].sequence`,
        `relative timelock sequence ${input.sequence}`,
      );
    }
    const utxo = psbt.data.inputs[index]?.witnessUtxo;
    if (utxo === undefined)
      throw new ChainError(
        'foreign-input',
        `inputs[${index}].witnessUtxo`,
        'spent value and script are not stated',
      );
    if (!equalBytes(utxo.script, own.script)) {
      throw new ChainError(
        'foreign-input',
        `inputs[${index}].witnessUtxo.script`,
        'does not pay to the wallet',
      );
    }
    totalIn += checkAmount(utxo.value, `inputs[${index}].witnessUtxo.value`, BITCOIN_MAX_MONEY);
  });
  if (totalIn > BITCOIN_MAX_MONEY)
    throw new ChainError('invalid-amount', 'inputs', 'total exceeds 21 million BTC');
  let totalOut = 0n;
  let change = 0n;
  const recipients: Array<{ script: Uint8Array; value: bigint; index: number }> = [];
  psbt.txOutputs.forEach((output, index) => {
    const value = checkAmount(output.value, `outputs[${index}].value`, BITCOIN_MAX_MONEY);
    if (classifyScript(output.script) === undefined) {
      throw new ChainError(
        'unsupported-transaction',
        `outputs[${index}].script`,
        'not a standard P2PKH/P2SH/P2WPKH/P2WSH/P2TR script',
      );
    }
    if (value < dustThreshold(output.script)) {
      throw new ChainError(
        'dust-output',
        `outputs[${index}].value`,
        `below the dust threshold ${dustThreshold(output.script)}`,
      );
    }
    totalOut += value;
    if (changeScripts.some((script) => equalBytes(script, output.script))) change += value;
    else recipients.push({ script: output.script, value, index });
  });
  if (recipients.length === 0)
    throw new ChainError('no-recipient', 'outputs', 'every output returns to the wallet');
  if (recipients.length > 1) {
    throw new ChainError(
      'multiple-recipients',
      `outputs[${recipients[1]!.index}]`,
      `${recipients.length} outputs leave the wallet`,
    );
  }
  if (totalOut > totalIn) throw new ChainError('malformed-transaction', 'outputs', 'outputs exceed inputs');
  const fee = totalIn - totalOut;
  const vsize = estimateVsize(
    wallet.type,
    inputs.length,
    psbt.txOutputs.map((o) => o.script),
  );
  const { maxRate, maxFee } = feePolicy(options);
  if (fee > maxFee) throw new ChainError('fee-too-high', 'fee', `${fee} sat above ${maxFee}`);
  if (fee > maxRate * vsize) throw new ChainError('fee-too-high', 'fee', `fee rate above ${maxRate} sat/vB`);
  if (fee < vsize)
    throw new ChainError('fee-too-low', 'fee', `${fee} sat is below 1 sat/vB for ~${vsize} vB`);
  const recipient = recipients[0]!;
  return {
    intent: intentOf(network, own.address, scriptToAddress(recipient.script, network), recipient.value, fee),
    change,
    inputs: inputs.length,
    vsize,
  };
}

export interface BitcoinDigest {
  index: number;
  scheme: 'ecdsa' | 'schnorr';
  /** 32 bytes: BIP143 (P2WPKH, SIGHASH_ALL) or BIP341 (P2TR key path, SIGHASH_DEFAULT). */
  digest: Uint8Array;
}

function unsignedTransaction(psbt: Psbt): Transaction {
  const tx = new Transaction();
  tx.version = psbt.version;
  tx.locktime = psbt.locktime;
  for (const input of psbt.txInputs) tx.addInput(input.hash, input.index, input.sequence);
  for (const output of psbt.txOutputs) tx.addOutput(output.script, output.value);
  return tx;
}

function digestsOf(psbt: Psbt, wallet: BitcoinWallet): BitcoinDigest[] {
  const tx = unsignedTransaction(psbt);
  const utxos = psbt.data.inputs.map((input, index) => {
    if (input.witnessUtxo === undefined)
      throw new ChainError('foreign-input', `inputs[${index}].witnessUtxo`, 'missing');
    return input.witnessUtxo;
  });
  if (wallet.type === 'p2wpkh') {
    const scriptCode = payments.p2pkh({ hash: bitcoinCrypto.hash160(wallet.publicKey) }).output!;
    return utxos.map((utxo, index) => ({
      index,
      scheme: 'ecdsa' as const,
      digest: tx.hashForWitnessV0(index, scriptCode, utxo.value, Transaction.SIGHASH_ALL),
    }));
  }
  const scripts = utxos.map((utxo) => utxo.script);
  const values = utxos.map((utxo) => utxo.value);
  return utxos.map((_, index) => ({
    index,
    scheme: 'schnorr' as const,
    digest: tx.hashForWitnessV1(index, scripts, values, Transaction.SIGHASH_DEFAULT),
  }));
}

/** Per-input signing digests of a PSBT that decodes for `wallet` (decoded first, so never blind). */
export function bitcoinSigningDigests(psbtBase64: string, options: DecodeBitcoinOptions): BitcoinDigest[] {
  decodeBitcoinTransfer(psbtBase64, options);
  return digestsOf(parsePsbt(psbtBase64, options.network), options.wallet);
}

export interface FinalisedBitcoinTransaction {
  hex: string;
  txid: string;
}

/**
 * Attaches one signature per input — Coffer's 65-byte r‖s‖recovery (P2WPKH, encoded DER + SIGHASH_ALL)
 * or a 64-byte BIP340 signature (P2TR, SIGHASH_DEFAULT) — checks each against the wallet key, lets
 * bitcoinjs validate and finalise, and returns the raw transaction.
 */
export function attachBitcoinSignatures(
  psbtBase64: string,
  signatures: readonly Uint8Array[],
  options: DecodeBitcoinOptions,
): FinalisedBitcoinTransaction {
  const { wallet } = options;
  const digests = bitcoinSigningDigests(psbtBase64, options);
  const psbt = parsePsbt(psbtBase64, options.network);
  if (signatures.length !== digests.length) {
    throw new ChainError(
      'invalid-signature',
      'signatures',
      `expected ${digests.length}, got ${signatures.length}`,
    );
  }
  for (const { index, digest, scheme } of digests) {
    const field = `signatures[${index}]`;
    const signature = signatures[index]!;
    if (scheme === 'ecdsa') {
      const compact = compactSignature(parseRecoverableSignature(signature, field));
      if (!secp256k1.verify(compact, digest, wallet.publicKey, { prehash: false, lowS: true })) {
        throw new ChainError('invalid-signature', field, 'does not verify against the wallet key');
      }
      const der = bitcoinScript.signature.encode(compact, Transaction.SIGHASH_ALL);
      psbt.updateInput(index, { partialSig: [{ pubkey: wallet.publicKey, signature: der }] });
    } else {
      if (!(signature instanceof Uint8Array) || signature.length !== 64) {
        throw new ChainError('invalid-signature', field, 'must be a 64-byte BIP340 signature');
      }
      if (!schnorr.verify(signature, digest, wallet.publicKey)) {
        throw new ChainError('invalid-signature', field, 'does not verify against the output key');
      }
      psbt.updateInput(index, { tapKeySig: signature });
    }
  }
  const validator = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) =>
    publicKey.length === 32
      ? schnorr.verify(signature, message, publicKey)
      : secp256k1.verify(signature, message, publicKey, { prehash: false });
  for (const { index } of digests) {
    const valid = wrapErrors('invalid-signature', `signatures[${index}]`, () =>
      psbt.validateSignaturesOfInput(index, validator, wallet.publicKey),
    );
    if (!valid)
      throw new ChainError('invalid-signature', `signatures[${index}]`, 'bitcoinjs-lib validation failed');
  }
  wrapErrors('invalid-signature', 'psbt', () => psbt.finalizeAllInputs());
  const tx = wrapErrors('fee-too-high', 'psbt', () => psbt.extractTransaction());
  return { hex: tx.toHex(), txid: tx.getId() };
}
