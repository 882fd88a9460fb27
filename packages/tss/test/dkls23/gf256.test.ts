// The OT-extension check is only sound if the field multiplication is the real one: a merely
// linear map would let honest runs pass while weakening the check. Compare against a bigint
// carry-less multiplication reduced by x^256 + x^10 + x^5 + x^2 + 1.
import { describe, expect, it } from 'vitest';
import { elementBytes, mulAccumulate, mulTable, newElement } from '../../src/dkls23/ot/gf256.ts';
import { seededRng } from '../../src/rng.ts';

const F = (1n << 256n) | (1n << 10n) | (1n << 5n) | (1n << 2n) | 1n;
const le = (b: Uint8Array) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);

function reference(a: bigint, b: bigint): bigint {
  let r = 0n;
  for (let i = 0; i < 256; i++) if ((b >> BigInt(i)) & 1n) r ^= a << BigInt(i);
  for (let i = 511; i >= 256; i--) if ((r >> BigInt(i)) & 1n) r ^= F << BigInt(i - 256);
  return r;
}

describe('GF(2^256) multiplication of the KOS check', () => {
  it('matches a reference carry-less multiplication modulo the field polynomial', () => {
    const rng = seededRng('gf256');
    for (let k = 0; k < 20; k++) {
      const a = rng(32);
      const b = rng(32);
      const acc = newElement();
      mulAccumulate(acc, mulTable(a), b, 0, 32);
      expect(le(elementBytes(acc))).toBe(reference(le(a), le(b)));
    }
  });

  it('reads a short block as zero-padded', () => {
    const rng = seededRng('gf256-short');
    const a = rng(32);
    const b = rng(32);
    b.fill(0, 20);
    const acc = newElement();
    mulAccumulate(acc, mulTable(a), b, 0, 20);
    expect(le(elementBytes(acc))).toBe(reference(le(a), le(b)));
  });
});
