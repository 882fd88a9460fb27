// The one intent shape every chain decoder produces and policy evaluates: what a transaction really
// does, recovered from the unsigned bytes themselves (DESIGN §1 step 2, "what-you-see-is-what-you-sign").
import { amountFromWire, amountToWire, MAX_UINT256 } from './amounts.ts';
import { ChainError } from './errors.ts';

export type Chain = 'bitcoin' | 'evm' | 'tron';

export interface Asset {
  kind: 'native' | 'token';
  /** Token contract in the chain's address format; absent for the native asset. */
  contract?: string;
  symbol: string;
  decimals: number;
}

export interface TransferIntent {
  chain: Chain;
  /** `mainnet` / `testnet` / `regtest` (Bitcoin), `eip155:<chainId>` (EVM), `mainnet` / `nile` / `shasta` (TRON). */
  network: string;
  asset: Asset;
  from: string;
  to: string;
  /** Base units of `asset`. */
  amount: bigint;
  /**
   * Base units of the native asset: the exact fee (Bitcoin), the upper bound gas × maxFeePerGas (EVM),
   * `fee_limit` (TRC-20) or the bandwidth estimate (TRX transfers; see README).
   */
  fee: bigint;
}

/** A token the decoders may recognise; any other contract is refused as `unknown-token`. */
export interface TokenInfo {
  contract: string;
  symbol: string;
  decimals: number;
}

export interface TransferIntentWire {
  chain: Chain;
  network: string;
  asset: Asset;
  from: string;
  to: string;
  amount: string;
  fee: string;
}

export function intentToWire(intent: TransferIntent): TransferIntentWire {
  return {
    chain: intent.chain,
    network: intent.network,
    asset: { ...intent.asset },
    from: intent.from,
    to: intent.to,
    amount: amountToWire(intent.amount),
    fee: amountToWire(intent.fee),
  };
}

const CHAINS: readonly Chain[] = ['bitcoin', 'evm', 'tron'];

function record(value: unknown, field: string, keys: readonly string[], optional: readonly string[] = []) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ChainError('invalid-argument', field, 'must be an object');
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    if (!keys.includes(key) && !optional.includes(key)) {
      throw new ChainError('unexpected-field', `${field}.${key}`, 'is not part of the intent');
    }
  }
  for (const key of keys) {
    if (!(key in object)) throw new ChainError('invalid-argument', `${field}.${key}`, 'is missing');
  }
  return object;
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
    throw new ChainError('invalid-argument', field, 'must be a non-empty string of at most 128 characters');
  }
  return value;
}

/**
 * Strict wire decoder: exact keys, typed fields, canonical amounts. Addresses are checked for shape
 * only; the chain adapters check them against the chain and network.
 */
export function intentFromWire(value: unknown, field = 'intent'): TransferIntent {
  const object = record(value, field, ['chain', 'network', 'asset', 'from', 'to', 'amount', 'fee']);
  const chain = object.chain;
  if (typeof chain !== 'string' || !CHAINS.includes(chain as Chain)) {
    throw new ChainError('invalid-argument', `${field}.chain`, `must be one of ${CHAINS.join(', ')}`);
  }
  const assetObject = record(object.asset, `${field}.asset`, ['kind', 'symbol', 'decimals'], ['contract']);
  const kind = assetObject.kind;
  if (kind !== 'native' && kind !== 'token') {
    throw new ChainError('invalid-argument', `${field}.asset.kind`, 'must be native or token');
  }
  const decimals = assetObject.decimals;
  if (typeof decimals !== 'number' || !Number.isInteger(decimals) || decimals < 0 || decimals > 77) {
    throw new ChainError('invalid-argument', `${field}.asset.decimals`, 'must be an integer in [0, 77]');
  }
  const asset: Asset = { kind, symbol: text(assetObject.symbol, `${field}.asset.symbol`), decimals };
  if (kind === 'token') asset.contract = text(assetObject.contract, `${field}.asset.contract`);
  else if ('contract' in assetObject) {
    throw new ChainError('unexpected-field', `${field}.asset.contract`, 'a native asset has no contract');
  }
  return {
    chain: chain as Chain,
    network: text(object.network, `${field}.network`),
    asset,
    from: text(object.from, `${field}.from`),
    to: text(object.to, `${field}.to`),
    amount: amountFromWire(object.amount, { field: `${field}.amount`, max: MAX_UINT256 }),
    fee: amountFromWire(object.fee, { field: `${field}.fee`, max: MAX_UINT256, allowZero: true }),
  };
}
