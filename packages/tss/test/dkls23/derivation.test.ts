import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HDKey } from '@scure/bip32';
import { describe, expect, it } from 'vitest';
import { derivePublicKey } from '../../src/dkls23/index.ts';
import { UsageError } from '../../src/errors.ts';
import { seededRng } from '../../src/rng.ts';
import { keygen, pick, sign } from './fixtures.ts';

describe('DKLs23 BIP32 non-hardened derivation on the threshold key', () => {
  const shares = keygen(2, 3, 'derivation-keygen');
  const share = shares[0]!;
  const root = new HDKey({ publicKey: share.publicKey, chainCode: share.chainCode });
  const xpub = root.publicExtendedKey;

  it('derivePublicKey equals @scure/bip32 for random paths', () => {
    const rng = seededRng('paths');
    for (let k = 0; k < 12; k++) {
      const depth = 1 + (rng(1)[0]! % 4);
      const steps = Array.from(
        { length: depth },
        () => new DataView(rng(4).buffer).getUint32(0) & 0x7fffffff,
      );
      const path = `m/${steps.join('/')}`;
      expect(derivePublicKey(share, path)).toEqual(HDKey.fromExtendedKey(xpub).derive(path).publicKey);
    }
  });

  it('signing with path m/0/7 verifies under the child key, not the root', () => {
    const digest = seededRng('derive-digest')(32);
    const sig = sign(pick(shares, [2, 3]), digest, 'derive-sign', 'm/0/7');
    const child = HDKey.fromExtendedKey(xpub).derive('m/0/7').publicKey!;
    expect(secp256k1.verify(sig.slice(0, 64), digest, child, { prehash: false })).toBe(true);
    expect(secp256k1.verify(sig.slice(0, 64), digest, share.publicKey, { prehash: false })).toBe(false);
  });

  it('refuses hardened steps', () => {
    expect(() => derivePublicKey(share, "m/0'/1")).toThrow(UsageError);
  });
});
