import { turboshake256 } from '@noble/hashes/sha3-addons.js';
import { describe, expect, it } from 'vitest';
import { prefixedXof, prefixedXofView } from '../../src/dkls23/xof.ts';
import { seededRng } from '../../src/rng.ts';

describe('prefixed TurboSHAKE256 used by the OT PRG and pads', () => {
  it('equals noble turboshake256 on every prefix and input length the protocol uses, and beyond', () => {
    const rng = seededRng('xof');
    for (const [prefixLength, dataLength, dkLen, domain] of [
      [32, 34, 84, 0x0b],
      [64, 34, 96, 0x0c],
      [17, 0, 64, 0x0d],
      [64, 71, 96, 0x0c], // exactly one byte short of the rate
      [64, 72, 96, 0x0c], // a second block
      [100, 100, 200, 0x1f],
    ] as const) {
      const prefix = rng(prefixLength);
      const xof = prefixedXof(prefix, domain, dkLen);
      const view = prefixedXofView(prefix, domain, dkLen);
      for (let k = 0; k < 3; k++) {
        const data = rng(dataLength);
        const joined = new Uint8Array(prefixLength + dataLength);
        joined.set(prefix);
        joined.set(data, prefixLength);
        const expected = turboshake256(joined, { dkLen, D: domain });
        expect(xof(data)).toEqual(expected);
        const v = view(data);
        expect(new Uint8Array(v.buffer, v.byteOffset, dkLen)).toEqual(expected);
      }
    }
  });

  it('returns an independent array per call (callers hold several PRG outputs at once)', () => {
    const rng = seededRng('xof-independent');
    const prefix = rng(32);
    const xof = prefixedXof(prefix, 0x0b, 84);
    const [a, b] = [rng(34), rng(34)];
    const first = xof(a);
    const second = xof(b);
    const joined = (data: Uint8Array) => Uint8Array.of(...prefix, ...data);
    expect(first).toEqual(turboshake256(joined(a), { dkLen: 84, D: 0x0b }));
    expect(second).toEqual(turboshake256(joined(b), { dkLen: 84, D: 0x0b }));
    expect(first.buffer).not.toBe(second.buffer);
  });
});
