import { inspect } from 'node:util';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { derivePublicKey } from '../../src/dkls23/index.ts';
import { simulateFinishPresigned, simulatePresign } from '../../src/dkls23/simulate.ts';
import { ProtocolAbort } from '../../src/errors.ts';
import { seededRng } from '../../src/rng.ts';
import { keygen, pick } from './fixtures.ts';

describe('DKLs23 presignatures', () => {
  const shares = keygen(2, 3, 'presign-keygen');
  const digest = seededRng('presign-digest')(32);

  it('presign then one online round gives a valid signature under the derived key', () => {
    const pres = simulatePresign({ shares: pick(shares, [1, 3]), path: 'm/1/2', rng: seededRng('p1') });
    expect(new Set(pres.map((p) => p.id)).size).toBe(1);
    const stats = { messages: 0, bytes: 0 };
    const sig = simulateFinishPresigned({ presignatures: pres, message: digest, path: 'm/1/2', stats });
    expect(stats.messages).toBe(2);
    expect(
      secp256k1.verify(sig.slice(0, 64), digest, derivePublicKey(shares[0]!, 'm/1/2'), { prehash: false }),
    ).toBe(true);
    expect(pres.every((p) => p.consumed)).toBe(true);
  });

  it('refuses to finish a presignature twice — nonce reuse would reveal the key', () => {
    const pres = simulatePresign({ shares: pick(shares, [1, 2]), rng: seededRng('p2') });
    simulateFinishPresigned({ presignatures: pres, message: digest });
    const again = () => simulateFinishPresigned({ presignatures: pres, message: seededRng('other')(32) });
    expect(again).toThrow(ProtocolAbort);
    expect(again).toThrow(/presignature-reused/);
  });

  it('refuses to finish a presignature for another derivation path (Groth–Shoup)', () => {
    const pres = simulatePresign({ shares: pick(shares, [2, 3]), path: 'm/0/1', rng: seededRng('p3') });
    expect(() => simulateFinishPresigned({ presignatures: pres, message: digest, path: 'm/0/2' })).toThrow(
      /presignature-reused.*bound to path/,
    );
    expect(() => simulateFinishPresigned({ presignatures: pres, message: digest })).toThrow(/bound to path/);
  });

  it('never prints presignature secrets', () => {
    const [p] = simulatePresign({ shares: pick(shares, [1, 3]), rng: seededRng('p4') });
    expect(JSON.stringify(p)).toContain('<redacted>');
    expect(inspect(p)).toContain('<redacted>');
    expect(inspect(p)).not.toMatch(/\d{30}/);
  });

  it('aborts when presignatures of different runs are mixed', () => {
    const a = simulatePresign({ shares: pick(shares, [1, 3]), rng: seededRng('p5') });
    const b = simulatePresign({ shares: pick(shares, [1, 3]), rng: seededRng('p6') });
    expect(() => simulateFinishPresigned({ presignatures: [a[0]!, b[1]!], message: digest })).toThrow(
      ProtocolAbort,
    );
  });
});
