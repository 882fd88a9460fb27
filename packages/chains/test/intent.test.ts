import { describe, expect, it } from 'vitest';
import { ChainError } from '../src/errors.ts';
import { intentFromWire, intentToWire, type TransferIntent } from '../src/intent.ts';

const intent: TransferIntent = {
  chain: 'evm',
  network: 'eip155:1',
  asset: {
    kind: 'token',
    contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
    symbol: 'USDT',
    decimals: 6,
  },
  from: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  to: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
  amount: 2n ** 200n,
  fee: 0n,
};

describe('intent wire form', () => {
  it('round-trips with amounts as decimal strings', () => {
    const wire = intentToWire(intent);
    expect(wire.amount).toBe((2n ** 200n).toString());
    expect(intentFromWire(JSON.parse(JSON.stringify(wire)))).toEqual(intent);
  });

  it.each([
    ['an extra key', { ...intentToWire(intent), memo: 'x' }, 'unexpected-field', 'intent.memo'],
    ['a numeric amount', { ...intentToWire(intent), amount: 5 }, 'invalid-amount', 'intent.amount'],
    ['an unknown chain', { ...intentToWire(intent), chain: 'solana' }, 'invalid-argument', 'intent.chain'],
    [
      'a native asset with a contract',
      { ...intentToWire(intent), asset: { kind: 'native', contract: '0x00', symbol: 'ETH', decimals: 18 } },
      'unexpected-field',
      'intent.asset.contract',
    ],
    [
      'fractional decimals',
      { ...intentToWire(intent), asset: { kind: 'native', symbol: 'ETH', decimals: 1.5 } },
      'invalid-argument',
      'intent.asset.decimals',
    ],
    ['a missing field', { ...intentToWire(intent), to: undefined }, 'invalid-argument', 'intent.to'],
  ])('rejects %s, naming the field', (_name, value, code, field) => {
    try {
      intentFromWire(JSON.parse(JSON.stringify(value)));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ChainError);
      expect((error as ChainError).code).toBe(code);
      expect((error as ChainError).field).toBe(field);
    }
  });
});
