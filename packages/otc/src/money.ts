// Exact money: crypto amounts are bigint base units, fiat amounts bigint minor units (ISO 4217
// exponent from configuration). On the wire both are decimal strings of integers; nothing here ever
// goes through a JavaScript number.
import { invalid } from './errors.ts';

const INTEGER = /^(0|[1-9][0-9]{0,77})$/;

/** Parses a wire amount (a decimal string of a non-negative integer, at most 78 digits). */
export function parseAmount(value: unknown, field: string, opts: { positive?: boolean } = {}): bigint {
  if (typeof value !== 'string') throw invalid(field, 'must be a decimal string of an integer');
  if (!INTEGER.test(value))
    throw invalid(field, 'must be a decimal string of an integer (no sign, point or exponent)');
  const amount = BigInt(value);
  if ((opts.positive ?? true) && amount === 0n) throw invalid(field, 'must be greater than zero');
  return amount;
}

/** A database `numeric` column (a string from both drivers) as bigint. */
export function fromNumeric(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value !== 'string' && typeof value !== 'number')
    throw new TypeError('numeric column is not a string');
  return BigInt(value);
}

/** Rounds `numerator / denominator` up (numerator ≥ 0, denominator > 0). */
export function divCeil(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator;
}

/**
 * Formats base units with `decimals` places for people ("1.5" for 15 with 1 decimal); trailing zeros
 * of the fraction are dropped. Display only — the API carries base units.
 */
export function formatUnits(amount: bigint, decimals: number): string {
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const scale = 10n ** BigInt(decimals);
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(decimals, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Parses a human decimal ("1.5") into base units with `decimals` places; more places are refused. */
export function parseUnits(value: string, decimals: number, field: string): bigint {
  const m = /^([0-9]{1,60})(?:\.([0-9]+))?$/.exec(value);
  if (!m) throw invalid(field, 'must be a decimal number such as 1.5');
  const fraction = m[2] ?? '';
  if (fraction.length > decimals) throw invalid(field, `has more than ${decimals} decimal places`);
  return BigInt(m[1]!) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0');
}
