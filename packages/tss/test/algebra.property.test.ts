// Property tests for the algebra and encodings everything else relies on.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ed25519Group, lagrangeCoefficient, mod, secp256k1Group } from '../src/group.ts';
import { decodeWire, encodeWire } from '../src/index.ts';

describe.each([secp256k1Group, ed25519Group])('$name', (group) => {
  const scalar = fc.bigInt({ min: 1n, max: group.order - 1n });

  it('Lagrange coefficients at 0 recover f(0) from any t points of a degree t−1 polynomial', () => {
    fc.assert(
      fc.property(
        fc.array(scalar, { minLength: 2, maxLength: 6 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 255 }), { minLength: 6, maxLength: 6 }),
        (coefficients, xs) => {
          const t = coefficients.length;
          const f = (x: number) =>
            coefficients.reduceRight((acc, c) => mod(acc * BigInt(x) + c, group.order), 0n);
          const set = xs.slice(0, t);
          const value = set.reduce(
            (acc, j) => mod(acc + lagrangeCoefficient(group.order, j, set) * f(j), group.order),
            0n,
          );
          expect(value).toBe(coefficients[0]);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('scalar encoding round-trips and rejects values ≥ order', () => {
    fc.assert(
      fc.property(scalar, (s) => {
        expect(group.decodeScalar(group.encodeScalar(s), 's')).toBe(s);
      }),
      { numRuns: 50 },
    );
  });
});

describe('wire codec', () => {
  it('decode(encode(m)) = m for every valid message', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.integer({ min: 1, max: 0xffff }),
        fc.integer({ min: 1, max: 255 }),
        fc.option(fc.integer({ min: 1, max: 255 }), { nil: null }),
        fc.uint8Array({ maxLength: 256 }),
        (session, round, from, to, payload) => {
          fc.pre(to !== from);
          const msg = { session, round, from, to, payload };
          expect(decodeWire(encodeWire(msg))).toEqual(msg);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never throws anything but a clean decode error on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (bytes) => {
        try {
          decodeWire(bytes);
        } catch (e) {
          expect((e as Error).name).toBe('DecodeError');
        }
      }),
      { numRuns: 500 },
    );
  });
});
