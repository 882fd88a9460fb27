import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { N } from '../../src/dkls23/scalar.ts';
import { TABLE_AFTER_USES, verifyEcdsa } from '../../src/dkls23/sign/round3.ts';
import { seededRng } from '../../src/rng.ts';

const num = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex')}`);

describe('final signature verification (DESIGN §3 item 6)', () => {
  it('accepts exactly what noble accepts', () => {
    const rng = seededRng('verify');
    for (let k = 0; k < 8; k++) {
      const secret = secp256k1.utils.randomSecretKey(rng(48));
      const pub = secp256k1.Point.fromBytes(secp256k1.getPublicKey(secret));
      const digest = rng(32);
      const sig = secp256k1.sign(digest, secret, { prehash: false });
      const r = num(sig.subarray(0, 32));
      const s = num(sig.subarray(32, 64));
      const z = num(digest) % N;
      expect(verifyEcdsa(r, s, z, pub)).toBe(true);
      expect(verifyEcdsa(r, (s + 1n) % N, z, pub)).toBe(false);
      expect(verifyEcdsa(r, s, (z + 1n) % N, pub)).toBe(false);
      expect(verifyEcdsa(0n, s, z, pub)).toBe(false);
      expect(verifyEcdsa(r, N, z, pub)).toBe(false);
    }
  });

  it('gives the same answers once a repeatedly used key has its window table', () => {
    const rng = seededRng('verify-table');
    const secret = secp256k1.utils.randomSecretKey(rng(48));
    const pub = secp256k1.Point.fromBytes(secp256k1.getPublicKey(secret));
    // Two verifications per round with this key: the table exists after TABLE_AFTER_USES of them.
    for (let k = 0; k < TABLE_AFTER_USES / 2 + 5; k++) {
      const digest = rng(32);
      const sig = secp256k1.sign(digest, secret, { prehash: false });
      const r = num(sig.subarray(0, 32));
      const s = num(sig.subarray(32, 64));
      const z = num(digest) % N;
      expect(verifyEcdsa(r, s, z, pub)).toBe(true);
      expect(verifyEcdsa(r, (s + 1n) % N, z, pub)).toBe(false);
      expect(verifyEcdsa(r, s, z, secp256k1.Point.BASE)).toBe(false);
    }
  });
});
