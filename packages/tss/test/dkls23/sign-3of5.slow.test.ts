import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { derivePublicKey } from '../../src/dkls23/index.ts';
import { seededRng } from '../../src/rng.ts';
import { keygen, pick, sign } from './fixtures.ts';
import { signTamperSuite } from './tamper-suite.ts';

const shares = keygen(3, 5);

signTamperSuite('3-of-5, signers 2,3,5', pick(shares, [2, 3, 5]));

describe('DKLs23 key generation and signing, 3-of-5', () => {
  for (const subset of [
    [1, 3, 5],
    [2, 4, 5],
  ]) {
    it(`signs with non-contiguous parties ${subset.join(',')}`, () => {
      const digest = seededRng(`digest35-${subset}`)(32);
      const sig = sign(pick(shares, subset), digest, `sign35-${subset.join('-')}`);
      expect(secp256k1.verify(sig.slice(0, 64), digest, shares[0]!.publicKey, { prehash: false })).toBe(true);
    });
  }

  it('signs under a derived child key', () => {
    const digest = seededRng('digest35-path')(32);
    const sig = sign(pick(shares, [1, 2, 4]), digest, 'sign35-path', 'm/44/0/3');
    const child = derivePublicKey(shares[0]!, 'm/44/0/3');
    expect(secp256k1.verify(sig.slice(0, 64), digest, child, { prehash: false })).toBe(true);
  });
});
