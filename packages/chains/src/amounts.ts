// Amounts are integers in base units: `bigint` in code, canonical decimal strings on the wire.
// Conversions from human decimals ("1.25 BTC") are exact unless the caller picks a rounding rule;
// negative, zero, too-large and malformed amounts are refused with the field named.
import { ChainError } from './errors.ts';

/** 2^256 − 1: EVM `uint256` and TRC-20 amounts. */
export const MAX_UINT256 = (1n << 256n) - 1n;
/** 2^63 − 1: TRON protobuf `int64` amounts (sun). */
export const MAX_INT64 = (1n << 63n) - 1n;
/** 21 000 000 BTC in satoshis (Bitcoin Core's MAX_MONEY). */
export const BITCOIN_MAX_MONEY = 2_100_000_000_000_000n;

/**
 * How to treat digits beyond `decimals`:
 * - `exact` (default): refuse them unless they are all zero;
 * - `down`: drop them (toward zero; amounts are positive, so also toward −∞);
 * - `up`: round away from zero when any dropped digit is non-zero;
 * - `half-even`: round to nearest, ties to the even last digit (banker's rounding).
 */
export type Rounding = 'exact' | 'down' | 'up' | 'half-even';

const DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;
const BASE_UNITS = /^(0|[1-9][0-9]*)$/;
/** Longest accepted text; 2^256 has 78 digits, so this only stops absurd inputs early. */
const MAX_TEXT_LENGTH = 200;

function checkDecimals(decimals: number, field: string): void {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 77) {
    throw new ChainError(
      'invalid-argument',
      field,
      `decimals must be an integer in [0, 77], got ${decimals}`,
    );
  }
}

/** Refuses zero, negative and above-`max` amounts; returns the amount. */
export function checkAmount(amount: bigint, field: string, max: bigint): bigint {
  if (typeof amount !== 'bigint') throw new ChainError('invalid-amount', field, 'must be a bigint');
  if (amount < 0n) throw new ChainError('invalid-amount', field, 'must not be negative');
  if (amount === 0n) throw new ChainError('invalid-amount', field, 'must not be zero');
  if (amount > max) throw new ChainError('invalid-amount', field, `must not exceed ${max}`);
  return amount;
}

/**
 * Parses a human decimal ("12.5") into base units with `decimals` fractional digits.
 * No signs, exponents, spaces, separators or leading zeros ("01") are accepted.
 */
export function parseDecimalAmount(
  text: string,
  decimals: number,
  options: { field?: string; rounding?: Rounding; max: bigint },
): bigint {
  const field = options.field ?? 'amount';
  checkDecimals(decimals, `${field}.decimals`);
  if (typeof text !== 'string' || text.length > MAX_TEXT_LENGTH) {
    throw new ChainError('invalid-amount', field, 'must be a decimal string');
  }
  const match = DECIMAL.exec(text);
  if (match === null)
    throw new ChainError('invalid-amount', field, `malformed decimal ${JSON.stringify(text)}`);
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  const kept = fraction.slice(0, decimals).padEnd(decimals, '0');
  const dropped = fraction.slice(decimals);
  let units = BigInt(whole + kept);
  if (/[1-9]/.test(dropped)) {
    const rounding = options.rounding ?? 'exact';
    if (rounding === 'exact') {
      throw new ChainError('invalid-amount', field, `has more than ${decimals} fractional digits`);
    }
    if (rounding === 'up') units += 1n;
    if (rounding === 'half-even') {
      const first = dropped.charCodeAt(0) - 48;
      const restNonZero = /[1-9]/.test(dropped.slice(1));
      if (first > 5 || (first === 5 && (restNonZero || units % 2n === 1n))) units += 1n;
    }
  }
  return checkAmount(units, field, options.max);
}

/** Formats base units as a human decimal with no trailing fractional zeros ("1.5", "0.00000001"). */
export function formatBaseUnits(amount: bigint, decimals: number): string {
  checkDecimals(decimals, 'decimals');
  if (typeof amount !== 'bigint' || amount < 0n) {
    throw new ChainError('invalid-amount', 'amount', 'must be a non-negative bigint');
  }
  const digits = amount.toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return fraction === '' ? whole : `${whole}.${fraction}`;
}

/** Base units to their wire form: a canonical decimal string. */
export function amountToWire(amount: bigint): string {
  if (typeof amount !== 'bigint' || amount < 0n) {
    throw new ChainError('invalid-amount', 'amount', 'must be a non-negative bigint');
  }
  return amount.toString(10);
}

/**
 * Wire form back to base units: a canonical decimal string of digits only (no sign, no leading
 * zeros, no JSON numbers, which lose precision above 2^53). Zero is refused unless `allowZero`.
 */
export function amountFromWire(
  value: unknown,
  options: { field: string; max: bigint; allowZero?: boolean },
): bigint {
  const { field } = options;
  if (typeof value !== 'string') {
    throw new ChainError('invalid-amount', field, 'must be a decimal string of base units');
  }
  if (value.length > MAX_TEXT_LENGTH || !BASE_UNITS.test(value)) {
    throw new ChainError(
      'invalid-amount',
      field,
      `malformed base-unit amount ${JSON.stringify(value.slice(0, 40))}`,
    );
  }
  const amount = BigInt(value);
  if (amount === 0n && options.allowZero === true) return amount;
  return checkAmount(amount, field, options.max);
}
