import { shake256 } from '@noble/hashes/sha3.js';
import { describe, expect, it } from 'vitest';
import { prefixedXof, prefixedXofView } from '../../src/dkls23/xof.ts';
import * as nobleBackend from '../../src/hash/noble.ts';
import * as nodeBackend from '../../src/hash/node.ts';
import { seededRng } from '../../src/rng.ts';

/** The definition: SHAKE256(domain ‖ prefix ‖ data), dkLen bytes, computed in one noble call. */
function reference(domain: number, prefix: Uint8Array, data: Uint8Array, dkLen: number): Uint8Array {
  return shake256(Uint8Array.of(domain, ...prefix, ...data), { dkLen });
}

// Prefix, input and output lengths the protocol uses (PRG, pads, GGM), and some around the rate.
const SHAPES = [
  [32, 34, 84, 0x0b],
  [64, 34, 96, 0x0c],
  [17, 0, 64, 0x0d],
  [32, 32, 32, 0x0e],
  [64, 70, 96, 0x0c], // domain ‖ prefix ‖ data one byte short of the rate (136)
  [64, 71, 96, 0x0c], // exactly the rate
  [64, 72, 96, 0x0c], // a second block
  [100, 100, 200, 0x1f], // output longer than the rate
] as const;

describe('prefixed SHAKE256 used by the OT PRG, pads, base-OT keys and GGM expansion', () => {
  it('is SHAKE256(domain ‖ prefix ‖ data) on every shape the protocol uses, and beyond', () => {
    const rng = seededRng('xof');
    for (const [prefixLength, dataLength, dkLen, domain] of SHAPES) {
      const prefix = rng(prefixLength);
      const xof = prefixedXof(prefix, domain, dkLen);
      const view = prefixedXofView(prefix, domain, dkLen);
      for (let k = 0; k < 3; k++) {
        const data = rng(dataLength);
        const expected = reference(domain, prefix, data, dkLen);
        expect(xof(data)).toEqual(expected);
        const v = view(data);
        expect(new Uint8Array(v.buffer, v.byteOffset, dkLen)).toEqual(expected);
      }
    }
  });

  it("Node's OpenSSL build and the noble build compute the same bytes", () => {
    expect(nodeBackend.HASH_BACKEND).toBe('node:crypto');
    expect(nobleBackend.HASH_BACKEND).toBe('noble');
    const rng = seededRng('xof-backends');
    for (const [prefixLength, dataLength, dkLen, domain] of SHAPES) {
      const head = Uint8Array.of(domain, ...rng(prefixLength));
      const viaNode = nodeBackend.headedShake256(head, dkLen);
      const viaNoble = nobleBackend.headedShake256(head, dkLen);
      for (let k = 0; k < 5; k++) {
        const data = rng(dataLength);
        const [a, b] = [new Uint8Array(dkLen), new Uint8Array(dkLen)];
        viaNode(data, a);
        viaNoble(data, b);
        expect(a).toEqual(b);
        expect(a.some((x) => x !== 0)).toBe(true);
      }
    }
  });

  it('the domain byte separates uses with the same prefix and input', () => {
    const rng = seededRng('xof-domains');
    const [prefix, data] = [rng(32), rng(34)];
    expect(prefixedXof(prefix, 0x0b, 84)(data)).not.toEqual(prefixedXof(prefix, 0x0c, 84)(data));
    expect(() => prefixedXof(prefix, 256, 84)).toThrow(RangeError);
  });

  it('returns an independent array per call (callers hold several PRG outputs at once)', () => {
    const rng = seededRng('xof-independent');
    const prefix = rng(32);
    const xof = prefixedXof(prefix, 0x0b, 84);
    const [a, b] = [rng(34), rng(34)];
    const first = xof(a);
    const second = xof(b);
    expect(first).toEqual(reference(0x0b, prefix, a, 84));
    expect(second).toEqual(reference(0x0b, prefix, b, 84));
    expect(first.buffer).not.toBe(second.buffer);
  });
});
