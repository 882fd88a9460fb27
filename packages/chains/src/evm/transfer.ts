// Build, decode, digest and finalise EIP-1559 transfers: native value or an ERC-20 `transfer` call.
// Decoding is strict: only a canonical unsigned type-2 transaction for the configured chain id,
// with either empty calldata (native) or exactly `transfer(address,uint256)` to a known token.
import {
  type Hex,
  hexToBytes,
  keccak256,
  parseTransaction,
  recoverTransactionAddress,
  serializeTransaction,
  type TransactionSerializableEIP1559,
} from 'viem';
import { checkAmount, MAX_UINT256 } from '../amounts.ts';
import { ChainError, wrapErrors } from '../errors.ts';
import type { TokenInfo, TransferIntent } from '../intent.ts';
import { parseRecoverableSignature } from '../signature.ts';
import { parseEvmAddress } from './address.ts';
import { checkEvmNetwork, type EvmNetwork, findToken, NATIVE_DECIMALS, networkName } from './network.ts';

/** `transfer(address,uint256)` selector. */
export const ERC20_TRANSFER_SELECTOR = '0xa9059cbb';
const DEFAULT_MAX_GAS = 30_000_000n;
const NATIVE_TRANSFER_GAS = 21_000n;

export interface EvmFees {
  nonce: number;
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export interface EvmTransferRequest extends EvmFees {
  network: EvmNetwork;
  /** The wallet's address (not part of an unsigned transaction, but checked by the decoder). */
  from: string;
  to: string;
  /** Native transfer when absent; otherwise a configured ERC-20 contract. */
  token?: string;
  amount: bigint;
}

export interface UnsignedEvmTransfer {
  /** Unsigned EIP-1559 serialisation (0x02 ‖ rlp([...])), the bytes every node decodes. */
  serialized: Hex;
  intent: TransferIntent;
}

function word(value: bigint): string {
  return value.toString(16).padStart(64, '0');
}

function encodeTransferCall(to: string, amount: bigint): Hex {
  return `${ERC20_TRANSFER_SELECTOR}${'0'.repeat(24)}${to.slice(2).toLowerCase()}${word(amount)}`;
}

/** Checks nonce and fee fields; returns the fee upper bound gas × maxFeePerGas. */
function checkFees(fees: EvmFees, network: EvmNetwork, prefix: '' | 'transaction.'): bigint {
  const code = prefix === '' ? 'invalid-argument' : 'malformed-transaction';
  if (!Number.isSafeInteger(fees.nonce) || fees.nonce < 0) {
    throw new ChainError(code, `${prefix}nonce`, 'must be a non-negative safe integer');
  }
  const maxGas = network.maxGas ?? DEFAULT_MAX_GAS;
  if (typeof fees.gas !== 'bigint' || fees.gas < NATIVE_TRANSFER_GAS || fees.gas > maxGas) {
    throw new ChainError(code, `${prefix}gas`, `must be in [${NATIVE_TRANSFER_GAS}, ${maxGas}]`);
  }
  if (typeof fees.maxFeePerGas !== 'bigint' || fees.maxFeePerGas <= 0n) {
    throw new ChainError(code, `${prefix}maxFeePerGas`, 'must be a positive bigint');
  }
  if (
    typeof fees.maxPriorityFeePerGas !== 'bigint' ||
    fees.maxPriorityFeePerGas < 0n ||
    fees.maxPriorityFeePerGas > fees.maxFeePerGas
  ) {
    throw new ChainError(code, `${prefix}maxPriorityFeePerGas`, 'must be in [0, maxFeePerGas]');
  }
  const fee = fees.gas * fees.maxFeePerGas;
  if (fee > network.maxFeeWei) {
    throw new ChainError(
      'fee-too-high',
      `${prefix}maxFeePerGas`,
      `fee bound ${fee} wei exceeds ${network.maxFeeWei}`,
    );
  }
  return fee;
}

function intentOf(
  network: EvmNetwork,
  from: string,
  to: string,
  amount: bigint,
  fee: bigint,
  token: TokenInfo | undefined,
): TransferIntent {
  return {
    chain: 'evm',
    network: networkName(network),
    asset:
      token === undefined
        ? { kind: 'native', symbol: network.nativeSymbol, decimals: NATIVE_DECIMALS }
        : {
            kind: 'token',
            contract: parseEvmAddress(token.contract, 'token'),
            symbol: token.symbol,
            decimals: token.decimals,
          },
    from,
    to,
    amount,
    fee,
  };
}

/** Builds an unsigned EIP-1559 native or ERC-20 transfer. */
export function buildEvmTransfer(request: EvmTransferRequest): UnsignedEvmTransfer {
  const { network } = request;
  checkEvmNetwork(network);
  const from = parseEvmAddress(request.from, 'from');
  const to = parseEvmAddress(request.to, 'to');
  const amount = checkAmount(request.amount, 'amount', MAX_UINT256);
  let token: TokenInfo | undefined;
  if (request.token !== undefined) {
    const contract = parseEvmAddress(request.token, 'token');
    token = findToken(network, contract);
    if (token === undefined) throw new ChainError('unknown-token', 'token', `${contract} is not configured`);
  }
  const fee = checkFees(request, network, '');
  const transaction: TransactionSerializableEIP1559 = {
    type: 'eip1559',
    chainId: network.chainId,
    nonce: request.nonce,
    gas: request.gas,
    maxFeePerGas: request.maxFeePerGas,
    maxPriorityFeePerGas: request.maxPriorityFeePerGas,
    to: token === undefined ? to : parseEvmAddress(token.contract, 'token'),
    value: token === undefined ? amount : 0n,
    data: token === undefined ? undefined : encodeTransferCall(to, amount),
  };
  return {
    serialized: serializeTransaction(transaction),
    intent: intentOf(network, from, to, amount, fee, token),
  };
}

export interface DecodedEvmTransfer extends EvmFees {
  intent: TransferIntent;
}

function checkHex(value: unknown, field: string): Hex {
  if (typeof value !== 'string' || !/^0x([0-9a-f]{2})+$/.test(value)) {
    throw new ChainError('malformed-transaction', field, 'must be lowercase 0x-prefixed hex of whole bytes');
  }
  return value as Hex;
}

/** Decodes the ERC-20 calldata `transfer(address,uint256)` exactly; anything else is refused. */
function decodeTransferCall(data: Hex): { to: `0x${string}`; amount: bigint } {
  if (!data.startsWith(ERC20_TRANSFER_SELECTOR)) {
    throw new ChainError(
      'unknown-contract-call',
      'data',
      `selector ${data.slice(0, 10)} is not transfer(address,uint256)`,
    );
  }
  if (data.length !== 2 + 8 + 128) {
    throw new ChainError(
      'unknown-contract-call',
      'data',
      `transfer calldata must be 68 bytes, got ${(data.length - 2) / 2}`,
    );
  }
  const addressWord = data.slice(10, 74);
  if (!addressWord.startsWith('0'.repeat(24))) {
    throw new ChainError('unknown-contract-call', 'data.to', 'address word has non-zero upper bytes');
  }
  const to = parseEvmAddress(`0x${addressWord.slice(24)}`, 'data.to');
  const amount = checkAmount(BigInt(`0x${data.slice(74)}`), 'data.amount', MAX_UINT256);
  return { to, amount };
}

/**
 * Decodes an unsigned serialised transaction into an intent. `from` is the wallet the node is asked
 * to sign for (an unsigned transaction does not name its sender).
 */
export function decodeEvmTransfer(
  serialized: unknown,
  options: { network: EvmNetwork; from: string },
): DecodedEvmTransfer {
  const { network } = options;
  checkEvmNetwork(network);
  const from = parseEvmAddress(options.from, 'from');
  const hex = checkHex(serialized, 'transaction');
  if (!hex.startsWith('0x02')) {
    throw new ChainError(
      'unsupported-transaction',
      'transaction.type',
      `only EIP-1559 (type 2) is accepted, got 0x${hex.slice(2, 4)}`,
    );
  }
  const parsed = wrapErrors('malformed-transaction', 'transaction', () => parseTransaction(hex));
  if (parsed.type !== 'eip1559')
    throw new ChainError('unsupported-transaction', 'transaction.type', 'not EIP-1559');
  if (
    parsed.r !== undefined ||
    parsed.s !== undefined ||
    parsed.yParity !== undefined ||
    parsed.v !== undefined
  ) {
    throw new ChainError(
      'already-signed',
      'transaction.signature',
      'the decoder only accepts unsigned transactions',
    );
  }
  const reserialized = wrapErrors('malformed-transaction', 'transaction', () => serializeTransaction(parsed));
  if (reserialized !== hex) {
    throw new ChainError('malformed-transaction', 'transaction', 'non-canonical RLP encoding');
  }
  if (parsed.chainId !== network.chainId) {
    throw new ChainError(
      'chain-id-mismatch',
      'transaction.chainId',
      `expected ${network.chainId}, got ${parsed.chainId}`,
    );
  }
  if (parsed.accessList !== undefined && parsed.accessList.length > 0) {
    throw new ChainError('unexpected-field', 'transaction.accessList', 'access lists are not accounted for');
  }
  if (parsed.to === undefined || parsed.to === null) {
    throw new ChainError('unsupported-transaction', 'transaction.to', 'contract creation is not a transfer');
  }
  const target = parseEvmAddress(parsed.to, 'transaction.to');
  const value = parsed.value ?? 0n;
  const data = parsed.data ?? '0x';
  const fees: EvmFees = {
    nonce: parsed.nonce ?? 0,
    gas: parsed.gas ?? 0n,
    maxFeePerGas: parsed.maxFeePerGas ?? 0n,
    maxPriorityFeePerGas: parsed.maxPriorityFeePerGas ?? 0n,
  };
  const fee = checkFees(fees, network, 'transaction.');
  if (data === '0x') {
    const amount = checkAmount(value, 'transaction.value', MAX_UINT256);
    return { ...fees, intent: intentOf(network, from, target, amount, fee, undefined) };
  }
  const call = decodeTransferCall(data);
  const token = findToken(network, target);
  if (token === undefined)
    throw new ChainError('unknown-token', 'transaction.to', `${target} is not a configured token`);
  if (value !== 0n) {
    throw new ChainError(
      'unaccounted-value',
      'transaction.value',
      `${value} wei sent along with a token transfer`,
    );
  }
  return { ...fees, intent: intentOf(network, from, call.to, call.amount, fee, token) };
}

/** keccak-256 of the unsigned serialisation: the 32-byte digest the wallet key signs. */
export function evmSigningDigest(serialized: Hex): Uint8Array {
  return hexToBytes(keccak256(checkHex(serialized, 'transaction')));
}

/**
 * Attaches Coffer's 65-byte r‖s‖recovery signature as `r, s, yParity` and serialises the signed
 * transaction; refuses it unless it recovers to `from`.
 */
export async function attachEvmSignature(
  serialized: Hex,
  signature: Uint8Array,
  options: { from: string },
): Promise<Hex> {
  const from = parseEvmAddress(options.from, 'from');
  const hex = checkHex(serialized, 'transaction');
  const parsed = wrapErrors('malformed-transaction', 'transaction', () => parseTransaction(hex));
  if (parsed.type !== 'eip1559')
    throw new ChainError('unsupported-transaction', 'transaction.type', 'not EIP-1559');
  const { r, s, recovery } = parseRecoverableSignature(signature);
  const signed = serializeTransaction(parsed, {
    r: `0x${r.toString(16).padStart(64, '0')}`,
    s: `0x${s.toString(16).padStart(64, '0')}`,
    yParity: recovery,
  });
  const recovered = await recoverTransactionAddress({ serializedTransaction: signed as `0x02${string}` });
  if (recovered.toLowerCase() !== from.toLowerCase()) {
    throw new ChainError(
      'invalid-signature',
      'signature',
      `recovers to ${recovered}, not the wallet ${from}`,
    );
  }
  return signed;
}
