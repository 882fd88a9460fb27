// TRON transfers: TRX via TransferContract and TRC-20 `transfer` via TriggerSmartContract. tronweb
// serialises what we build; our own strict protobuf reader decodes what every node signs.
// txID = sha256(raw_data); the signature is 65 bytes r‖s‖(recovery + 27).
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { Trx, type Types, utils } from 'tronweb';
import { checkAmount, MAX_INT64, MAX_UINT256 } from '../amounts.ts';
import { ChainError, wrapErrors } from '../errors.ts';
import type { TokenInfo, TransferIntent } from '../intent.ts';
import { parseRecoverableSignature } from '../signature.ts';
import { formatTronAddress, parseTronAddress } from './address.ts';
import {
  ANY_SPEC,
  CONTRACT_SPEC,
  type Decoded,
  decodeMessage,
  RAW_SPEC,
  TRANSFER_SPEC,
  TRIGGER_SPEC,
} from './protobuf.ts';

export interface TronNetwork {
  /** `mainnet`, `nile` or `shasta`: TRON transactions do not name their network (ref_block binds them). */
  name: string;
  /** TRC-20 tokens (Base58 contract addresses) the decoder may recognise. */
  tokens: readonly TokenInfo[];
  /** Refuse TRC-20 transfers whose fee_limit exceeds this (sun). */
  maxFeeLimitSun: bigint;
  /** Sun per bandwidth byte for the TRX-transfer fee estimate (default 1000). */
  bandwidthPriceSun?: bigint;
}

export interface TronReferenceBlock {
  number: number;
  /** Block id, 64 hex digits. */
  hash: string;
}

export interface TronTransferRequest {
  network: TronNetwork;
  from: string;
  to: string;
  /** TRC-20 contract (Base58); TRX when absent. */
  token?: string;
  amount: bigint;
  refBlock: TronReferenceBlock;
  timestampMs: number;
  /** Default timestampMs + 60 s; at most 24 h after timestampMs. */
  expirationMs?: number;
  /** Required for TRC-20 transfers (energy burn cap, sun). */
  feeLimitSun?: bigint;
}

/** The transaction object tronweb and the TRON HTTP API use. */
export interface UnsignedTronTransaction {
  visible: false;
  txID: string;
  raw_data: Types.Transaction['raw_data'];
  raw_data_hex: string;
}

export interface SignedTronTransaction extends UnsignedTronTransaction {
  signature: string[];
}

const TRANSFER_TYPE = 1n;
const TRIGGER_TYPE = 31n;
const TYPE_URL = {
  transfer: 'type.googleapis.com/protocol.TransferContract',
  trigger: 'type.googleapis.com/protocol.TriggerSmartContract',
} as const;
const TRANSFER_SELECTOR = 'a9059cbb';
const MAX_VALIDITY_MS = 24 * 60 * 60 * 1000;
/** Bytes TRON charges beyond raw_data: one 65-byte signature and 64 bytes of overhead. */
const BANDWIDTH_OVERHEAD = 65 + 64;

function findToken(network: TronNetwork, contract: Uint8Array): TokenInfo | undefined {
  const wanted = bytesToHex(contract);
  return network.tokens.find(
    (token, index) =>
      bytesToHex(parseTronAddress(token.contract, `network.tokens[${index}].contract`)) === wanted,
  );
}

function checkTimes(timestamp: bigint, expiration: bigint, prefix: string): void {
  if (timestamp <= 0n)
    throw new ChainError('malformed-transaction', `${prefix}timestamp`, 'must be positive');
  if (expiration <= timestamp || expiration - timestamp > BigInt(MAX_VALIDITY_MS)) {
    throw new ChainError(
      'malformed-transaction',
      `${prefix}expiration`,
      'must be after timestamp and within 24 h',
    );
  }
}

function bandwidthFee(network: TronNetwork, rawLength: number): bigint {
  return BigInt(rawLength + BANDWIDTH_OVERHEAD) * (network.bandwidthPriceSun ?? 1000n);
}

function intentOf(
  network: TronNetwork,
  from: string,
  to: string,
  amount: bigint,
  fee: bigint,
  token?: TokenInfo,
): TransferIntent {
  return {
    chain: 'tron',
    network: network.name,
    asset:
      token === undefined
        ? { kind: 'native', symbol: 'TRX', decimals: 6 }
        : { kind: 'token', contract: token.contract, symbol: token.symbol, decimals: token.decimals },
    from,
    to,
    amount,
    fee,
  };
}

/** Builds an unsigned TRX or TRC-20 transfer offline from a recent reference block. */
export function buildTronTransfer(request: TronTransferRequest): {
  transaction: UnsignedTronTransaction;
  intent: TransferIntent;
} {
  const { network } = request;
  const owner = parseTronAddress(request.from, 'from');
  const to = parseTronAddress(request.to, 'to');
  if (!/^[0-9a-f]{64}$/.test(request.refBlock.hash)) {
    throw new ChainError('invalid-argument', 'refBlock.hash', 'must be 64 lowercase hex digits');
  }
  if (!Number.isSafeInteger(request.refBlock.number) || request.refBlock.number < 0) {
    throw new ChainError('invalid-argument', 'refBlock.number', 'must be a non-negative safe integer');
  }
  const timestamp = request.timestampMs;
  const expiration = request.expirationMs ?? timestamp + 60_000;
  if (!Number.isSafeInteger(timestamp) || !Number.isSafeInteger(expiration)) {
    throw new ChainError('invalid-argument', 'timestampMs', 'must be safe integers');
  }
  checkTimes(BigInt(timestamp), BigInt(expiration), '');
  const common = {
    ref_block_bytes: (request.refBlock.number & 0xffff).toString(16).padStart(4, '0'),
    ref_block_hash: request.refBlock.hash.slice(16, 32),
    expiration,
    timestamp,
  };
  let rawData: Record<string, unknown>;
  let token: TokenInfo | undefined;
  if (request.token === undefined) {
    // google-protobuf carries int64 as a JS number: keep TRX amounts exact.
    const amount = checkAmount(request.amount, 'amount', BigInt(Number.MAX_SAFE_INTEGER));
    rawData = {
      contract: [
        {
          parameter: {
            value: { amount: Number(amount), owner_address: bytesToHex(owner), to_address: bytesToHex(to) },
            type_url: TYPE_URL.transfer,
          },
          type: 'TransferContract',
        },
      ],
      ...common,
    };
  } else {
    const contract = parseTronAddress(request.token, 'token');
    token = findToken(network, contract);
    if (token === undefined)
      throw new ChainError('unknown-token', 'token', `${request.token} is not configured`);
    const amount = checkAmount(request.amount, 'amount', MAX_UINT256);
    const feeLimit = request.feeLimitSun;
    if (feeLimit === undefined || feeLimit <= 0n || feeLimit > network.maxFeeLimitSun) {
      throw new ChainError('fee-too-high', 'feeLimitSun', `must be in (0, ${network.maxFeeLimitSun}]`);
    }
    const data = `${TRANSFER_SELECTOR}${'0'.repeat(24)}${bytesToHex(to.subarray(1))}${amount.toString(16).padStart(64, '0')}`;
    rawData = {
      contract: [
        {
          parameter: {
            value: { data, owner_address: bytesToHex(owner), contract_address: bytesToHex(contract) },
            type_url: TYPE_URL.trigger,
          },
          type: 'TriggerSmartContract',
        },
      ],
      ...common,
      fee_limit: Number(feeLimit),
    };
  }
  const pb = wrapErrors('invalid-argument', 'transaction', () =>
    utils.transaction.txJsonToPb({ raw_data: rawData, visible: false }),
  );
  const rawDataHex = utils.transaction.txPbToRawDataHex(pb).toLowerCase();
  const transaction: UnsignedTronTransaction = {
    visible: false,
    txID: bytesToHex(sha256(hexToBytes(rawDataHex))),
    raw_data: rawData as Types.Transaction['raw_data'],
    raw_data_hex: rawDataHex,
  };
  return { transaction, intent: decodeTronTransfer(rawDataHex, { network, from: request.from }).intent };
}

function bytesField(message: Decoded, name: string): Uint8Array | undefined {
  const value = message[name];
  return value instanceof Uint8Array ? value : undefined;
}

function varintField(message: Decoded, name: string): bigint | undefined {
  const value = message[name];
  return typeof value === 'bigint' ? value : undefined;
}

export interface DecodedTronTransfer {
  intent: TransferIntent;
  txID: string;
  expirationMs: bigint;
}

/** Strictly decodes raw_data bytes (hex) into an intent for the wallet `from`. */
export function decodeTronTransfer(
  rawDataHex: unknown,
  options: { network: TronNetwork; from: string },
): DecodedTronTransfer {
  const { network } = options;
  const wallet = parseTronAddress(options.from, 'from');
  if (typeof rawDataHex !== 'string' || !/^([0-9a-f]{2})+$/.test(rawDataHex) || rawDataHex.length > 100_000) {
    throw new ChainError('malformed-transaction', 'raw_data_hex', 'must be lowercase hex of whole bytes');
  }
  const rawBytes = hexToBytes(rawDataHex);
  const raw = decodeMessage(rawBytes, RAW_SPEC, 'raw_data');
  for (const name of ['auths', 'data', 'scripts', 'ref_block_num']) {
    if (raw[name] !== undefined)
      throw new ChainError('unexpected-field', `raw_data.${name}`, 'is not accounted for');
  }
  if (bytesField(raw, 'ref_block_bytes')?.length !== 2) {
    throw new ChainError('malformed-transaction', 'raw_data.ref_block_bytes', 'must be 2 bytes');
  }
  if (bytesField(raw, 'ref_block_hash')?.length !== 8) {
    throw new ChainError('malformed-transaction', 'raw_data.ref_block_hash', 'must be 8 bytes');
  }
  const expiration = varintField(raw, 'expiration') ?? 0n;
  checkTimes(varintField(raw, 'timestamp') ?? 0n, expiration, 'raw_data.');
  const contracts = (raw.contract as Uint8Array[] | undefined) ?? [];
  if (contracts.length !== 1) {
    throw new ChainError(
      'unsupported-transaction',
      'raw_data.contract',
      `must hold exactly one contract, got ${contracts.length}`,
    );
  }
  const contract = decodeMessage(contracts[0]!, CONTRACT_SPEC, 'raw_data.contract[0]');
  for (const name of ['provider', 'ContractName', 'Permission_id']) {
    if (contract[name] !== undefined) {
      throw new ChainError('unexpected-field', `raw_data.contract[0].${name}`, 'is not accounted for');
    }
  }
  const parameterBytes = bytesField(contract, 'parameter');
  if (parameterBytes === undefined)
    throw new ChainError('malformed-transaction', 'raw_data.contract[0].parameter', 'missing');
  const parameter = decodeMessage(parameterBytes, ANY_SPEC, 'raw_data.contract[0].parameter');
  const typeUrl = new TextDecoder().decode(bytesField(parameter, 'type_url') ?? new Uint8Array());
  const value = bytesField(parameter, 'value') ?? new Uint8Array();
  const type = varintField(contract, 'type') ?? 0n;
  const feeLimit = varintField(raw, 'fee_limit');
  const txID = bytesToHex(sha256(rawBytes));
  const path = 'raw_data.contract[0].parameter.value';
  const from = formatTronAddress(wallet, 'from');
  const checkOwner = (owner: Uint8Array | undefined) => {
    if (owner === undefined || bytesToHex(owner) !== bytesToHex(wallet)) {
      throw new ChainError('wrong-sender', `${path}.owner_address`, 'is not the wallet');
    }
  };

  if (type === TRANSFER_TYPE) {
    if (typeUrl !== TYPE_URL.transfer)
      throw new ChainError('malformed-transaction', 'raw_data.contract[0].parameter.type_url', typeUrl);
    if (feeLimit !== undefined)
      throw new ChainError('unexpected-field', 'raw_data.fee_limit', 'a TRX transfer has no fee limit');
    const transfer = decodeMessage(value, TRANSFER_SPEC, path);
    checkOwner(bytesField(transfer, 'owner_address'));
    const to = formatTronAddress(
      bytesField(transfer, 'to_address') ?? new Uint8Array(),
      `${path}.to_address`,
    );
    const amount = checkAmount(varintField(transfer, 'amount') ?? 0n, `${path}.amount`, MAX_INT64);
    return {
      intent: intentOf(network, from, to, amount, bandwidthFee(network, rawBytes.length)),
      txID,
      expirationMs: expiration,
    };
  }
  if (type === TRIGGER_TYPE) {
    if (typeUrl !== TYPE_URL.trigger)
      throw new ChainError('malformed-transaction', 'raw_data.contract[0].parameter.type_url', typeUrl);
    const trigger = decodeMessage(value, TRIGGER_SPEC, path);
    checkOwner(bytesField(trigger, 'owner_address'));
    for (const name of ['call_value', 'call_token_value', 'token_id']) {
      if ((varintField(trigger, name) ?? 0n) !== 0n) {
        throw new ChainError(
          'unaccounted-value',
          `${path}.${name}`,
          'value sent along with a token transfer',
        );
      }
    }
    const data = bytesToHex(bytesField(trigger, 'data') ?? new Uint8Array());
    if (!data.startsWith(TRANSFER_SELECTOR)) {
      throw new ChainError(
        'unknown-contract-call',
        `${path}.data`,
        `selector ${data.slice(0, 8)} is not transfer(address,uint256)`,
      );
    }
    if (data.length !== 8 + 128)
      throw new ChainError('unknown-contract-call', `${path}.data`, 'transfer calldata must be 68 bytes');
    if (!data.startsWith('0'.repeat(24), 8)) {
      throw new ChainError(
        'unknown-contract-call',
        `${path}.data.to`,
        'address word has non-zero upper bytes',
      );
    }
    const to = formatTronAddress(hexToBytes(`41${data.slice(32, 72)}`), `${path}.data.to`);
    const amount = checkAmount(BigInt(`0x${data.slice(72)}`), `${path}.data.amount`, MAX_UINT256);
    const contractAddress = bytesField(trigger, 'contract_address') ?? new Uint8Array();
    const token = findToken(network, contractAddress);
    if (token === undefined) {
      throw new ChainError(
        'unknown-token',
        `${path}.contract_address`,
        `${bytesToHex(contractAddress)} is not a configured token`,
      );
    }
    if (feeLimit === undefined || feeLimit === 0n)
      throw new ChainError('malformed-transaction', 'raw_data.fee_limit', 'missing');
    if (feeLimit > network.maxFeeLimitSun) {
      throw new ChainError(
        'fee-too-high',
        'raw_data.fee_limit',
        `${feeLimit} sun above ${network.maxFeeLimitSun}`,
      );
    }
    return { intent: intentOf(network, from, to, amount, feeLimit, token), txID, expirationMs: expiration };
  }
  throw new ChainError(
    'unsupported-transaction',
    'raw_data.contract[0].type',
    `contract type ${type} is not a transfer`,
  );
}

/** sha256(raw_data): the txID and the 32-byte digest the wallet key signs. */
export function tronSigningDigest(rawDataHex: string): Uint8Array {
  if (!/^([0-9a-f]{2})+$/.test(rawDataHex))
    throw new ChainError('malformed-transaction', 'raw_data_hex', 'not hex');
  return sha256(hexToBytes(rawDataHex));
}

/**
 * Attaches Coffer's 65-byte signature (as r‖s‖(recovery + 27)) after checking that the JSON matches
 * raw_data_hex and the txID; refuses it unless tronweb's `Trx.ecRecover` yields the wallet address.
 */
export function attachTronSignature(
  transaction: UnsignedTronTransaction,
  signature: Uint8Array,
  options: { network: TronNetwork; from: string },
): SignedTronTransaction {
  const decoded = decodeTronTransfer(transaction.raw_data_hex, options);
  if (transaction.txID !== decoded.txID)
    throw new ChainError('malformed-transaction', 'txID', 'is not sha256(raw_data)');
  const { r, s, recovery } = parseRecoverableSignature(signature);
  const signatureHex = `${r.toString(16).padStart(64, '0')}${s.toString(16).padStart(64, '0')}${(recovery + 27).toString(16)}`;
  const signed: SignedTronTransaction = { ...transaction, signature: [signatureHex] };
  const recovered = wrapErrors('malformed-transaction', 'raw_data', () =>
    Trx.ecRecover(signed as unknown as Types.SignedTransaction),
  );
  if (recovered !== options.from) {
    throw new ChainError(
      'invalid-signature',
      'signature',
      `recovers to ${String(recovered)}, not the wallet ${options.from}`,
    );
  }
  return signed;
}
