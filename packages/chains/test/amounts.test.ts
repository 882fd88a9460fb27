import { describe, expect, it } from 'vitest';
import {
  amountFromWire,
  amountToWire,
  BITCOIN_MAX_MONEY,
  formatBaseUnits,
  MAX_UINT256,
  parseDecimalAmount,
} from '../src/amounts.ts';
import { ChainError } from '../src/errors.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ChainError);
    return (error as ChainError).code;
  }
  throw new Error('expected a ChainError');
}

describe('parseDecimalAmount', () => {
  const max = MAX_UINT256;
  it('converts exact decimals to base units', () => {
    expect(parseDecimalAmount('1', 8, { max })).toBe(100_000_000n);
    expect(parseDecimalAmount('0.00000001', 8, { max })).toBe(1n);
    expect(parseDecimalAmount('1.5', 18, { max })).toBe(1_500_000_000_000_000_000n);
    expect(parseDecimalAmount('12.340000000', 6, { max })).toBe(12_340_000n);
    expect(parseDecimalAmount('7', 0, { max })).toBe(7n);
  });

  it('refuses excess precision unless a rounding rule is chosen', () => {
    expect(codeOf(() => parseDecimalAmount('0.123456789', 8, { max }))).toBe('invalid-amount');
    expect(parseDecimalAmount('0.123456789', 8, { max, rounding: 'down' })).toBe(12_345_678n);
    expect(parseDecimalAmount('0.123456781', 8, { max, rounding: 'up' })).toBe(12_345_679n);
  });

  it('rounds half to even', () => {
    const opts = { max, rounding: 'half-even' as const };
    expect(parseDecimalAmount('1.25', 1, opts)).toBe(12n);
    expect(parseDecimalAmount('1.35', 1, opts)).toBe(14n);
    expect(parseDecimalAmount('1.251', 1, opts)).toBe(13n);
    expect(parseDecimalAmount('1.249', 1, opts)).toBe(12n);
    expect(parseDecimalAmount('1.26', 1, opts)).toBe(13n);
  });

  it.each([
    ['-1', 'negative'],
    ['+1', 'sign'],
    ['1e3', 'exponent'],
    [' 1', 'whitespace'],
    ['01', 'leading zero'],
    ['1.', 'dangling point'],
    ['.5', 'missing whole part'],
    ['1,000', 'separator'],
    ['', 'empty'],
    ['0x10', 'hex'],
    ['１', 'non-ASCII digit'],
  ])('rejects malformed %j (%s)', (text) => {
    expect(codeOf(() => parseDecimalAmount(text, 8, { max }))).toBe('invalid-amount');
  });

  it('rejects zero, including zero after rounding down', () => {
    expect(codeOf(() => parseDecimalAmount('0', 8, { max }))).toBe('invalid-amount');
    expect(codeOf(() => parseDecimalAmount('0.000000001', 8, { max, rounding: 'down' }))).toBe(
      'invalid-amount',
    );
  });

  it('rejects amounts above the chain maximum', () => {
    expect(parseDecimalAmount('21000000', 8, { max: BITCOIN_MAX_MONEY })).toBe(BITCOIN_MAX_MONEY);
    expect(codeOf(() => parseDecimalAmount('21000000.00000001', 8, { max: BITCOIN_MAX_MONEY }))).toBe(
      'invalid-amount',
    );
  });

  it('names the field in the error', () => {
    expect(() => parseDecimalAmount('abc', 8, { max, field: 'request.amount' })).toThrow(/request\.amount/);
  });
});

describe('formatBaseUnits', () => {
  it('formats without trailing zeros and round-trips', () => {
    expect(formatBaseUnits(1n, 8)).toBe('0.00000001');
    expect(formatBaseUnits(150_000_000n, 8)).toBe('1.5');
    expect(formatBaseUnits(0n, 18)).toBe('0');
    expect(formatBaseUnits(42n, 0)).toBe('42');
    for (const units of [1n, 10n, 123_456_789n, MAX_UINT256]) {
      expect(parseDecimalAmount(formatBaseUnits(units, 18), 18, { max: MAX_UINT256 })).toBe(units);
    }
  });
});

describe('wire amounts', () => {
  it('round-trips through canonical decimal strings', () => {
    expect(amountToWire(MAX_UINT256)).toBe(MAX_UINT256.toString());
    expect(amountFromWire(MAX_UINT256.toString(), { field: 'a', max: MAX_UINT256 })).toBe(MAX_UINT256);
  });

  it.each([
    [1, 'JSON number'],
    ['01', 'leading zero'],
    ['-5', 'negative'],
    ['1.0', 'fraction'],
    ['0', 'zero'],
    [(MAX_UINT256 + 1n).toString(), 'too large'],
    [null, 'null'],
  ] as Array<[unknown, string]>)('rejects %j (%s)', (value) => {
    expect(codeOf(() => amountFromWire(value, { field: 'amount', max: MAX_UINT256 }))).toBe('invalid-amount');
  });

  it('accepts zero only where allowed (fees)', () => {
    expect(amountFromWire('0', { field: 'fee', max: MAX_UINT256, allowZero: true })).toBe(0n);
  });
});
