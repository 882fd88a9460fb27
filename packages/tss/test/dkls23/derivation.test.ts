import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HDKey } from '@scure/bip32';
import { describe, expect, it } from 'vitest';
import { derivePublicKey } from '../../src/dkls23/index.ts';
import { UsageError } from '../../src/errors.ts';
import { KeyShare, keyShareSecret } from '../../src/keyshare.ts';
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

  it('remembered derivations are per key and chain code: re-loaded shares and another chain code each sign under their own child', () => {
    const digest = seededRng('derive-digest-remembered')(32);
    const verify = (sig: Uint8Array, key: Uint8Array) =>
      secp256k1.verify(sig.slice(0, 64), digest, key, { prehash: false });
    const signers = pick(shares, [1, 3]);
    const child = HDKey.fromExtendedKey(xpub).derive('m/0/7').publicKey!;
    const reloaded = signers.map((s) => KeyShare.fromBytes(s.toBytes()));
    expect(verify(sign(reloaded, digest, 'derive-reloaded', 'm/0/7'), child)).toBe(true);
    const otherCode = new Uint8Array(32).fill(0x5a);
    const recoded = signers.map(
      (s) => new KeyShare({ ...s.publicView(), chainCode: otherCode, secretMaterial: keyShareSecret(s) }),
    );
    const otherChild = new HDKey({ publicKey: share.publicKey, chainCode: otherCode }).derive('m/0/7')
      .publicKey!;
    expect(otherChild).not.toEqual(child);
    const sig = sign(recoded, digest, 'derive-recoded', 'm/0/7');
    expect(verify(sig, otherChild)).toBe(true);
    expect(verify(sig, child)).toBe(false);
  });

  it('refuses hardened steps', () => {
    expect(() => derivePublicKey(share, "m/0'/1")).toThrow(UsageError);
  });
});
