// Loading a KeyShare remembers which public data (group key and public shares) it already found
// consistent, so a signer node that unseals the same share for every signing does not repeat the
// interpolation check. These tests pin down that the memo never weakens a check: it holds public
// data only, a secret share is always checked against its public share, and public data that
// failed is never remembered.
import { sha256 } from '@noble/hashes/sha2.js';
import { beforeEach, describe, expect, it } from 'vitest';
import { KeyShare, type SchemeId } from '../src/index.ts';
import { keyShareSecret } from '../src/keyshare.ts';
import { clearValidatedPublicData } from '../src/keyshare-validate.ts';
import { simulateKeygen } from '../src/simulator.ts';

const SCHEMES = ['schnorr-secp256k1-tr', 'eddsa-ed25519'] as const satisfies readonly SchemeId[];

describe.each(SCHEMES)('KeyShare load checks with remembered public data (%s)', (scheme) => {
  beforeEach(() => clearValidatedPublicData());

  const keys = async () => {
    const a = await simulateKeygen({ scheme, threshold: 2, parties: 3, seed: `${scheme}-load-a` });
    const b = await simulateKeygen({ scheme, threshold: 2, parties: 3, seed: `${scheme}-load-b` });
    return { a, b };
  };

  it('a secret share that does not match its public share is refused after the public data was remembered', async () => {
    const { a, b } = await keys();
    // Loading a good share remembers a's public data …
    expect(KeyShare.fromBytes(a[0]!.toBytes()).toBytes()).toEqual(a[0]!.toBytes());
    const view = a[0]!.publicView();
    // … and x_i·G is still compared with the public share: another key's secret, or party 2's
    // secret under party 1's index, is refused.
    expect(() => new KeyShare({ ...view, secretMaterial: keyShareSecret(b[0]!) })).toThrow(
      /does not match this party’s public share/,
    );
    expect(() => new KeyShare({ ...view, secretMaterial: keyShareSecret(a[1]!) })).toThrow(
      /does not match this party’s public share/,
    );
    // The right secret under the remembered data still loads, for every party.
    for (const s of a) expect(KeyShare.fromBytes(s.toBytes()).index).toBe(s.index);
  });

  it('public data that failed the check is refused every time (never remembered)', async () => {
    const { a, b } = await keys();
    const view = a[0]!.publicView();
    const secretMaterial = keyShareSecret(a[0]!);
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(
        () =>
          new KeyShare({ ...view, groupPoint: b[0]!.groupPoint, publicKey: b[0]!.publicKey, secretMaterial }),
      ).toThrow(/do not interpolate to the group key/);
      const publicShares = view.publicShares.map((p, i) => (i === 2 ? b[0]!.publicShares[2]! : p));
      expect(() => new KeyShare({ ...view, publicShares, secretMaterial })).toThrow(
        /not on the same degree-1 polynomial/,
      );
    }
  });

  it('one altered public share is caught although the rest of the key was remembered', async () => {
    const { a, b } = await keys();
    KeyShare.fromBytes(a[0]!.toBytes());
    const view = a[0]!.publicView();
    // Party 2's public share is in the interpolation basis: the group key no longer matches.
    const publicShares = view.publicShares.map((p, i) => (i === 1 ? b[0]!.publicShares[1]! : p));
    expect(() => new KeyShare({ ...view, publicShares, secretMaterial: keyShareSecret(a[0]!) })).toThrow(
      /do not interpolate to the group key/,
    );
    // A malformed public share is named, remembered data or not.
    const bad = view.publicShares.map((p, i) => (i === 2 ? new Uint8Array(p.length).fill(0xff) : p));
    expect(() => new KeyShare({ ...view, publicShares: bad, secretMaterial: keyShareSecret(a[0]!) })).toThrow(
      /publicShares\[2\]/,
    );
  });

  it('a publicKey that is not the encoding of the group point is refused, built or parsed', async () => {
    const { a, b } = await keys();
    const view = a[0]!.publicView();
    const secretMaterial = keyShareSecret(a[0]!);
    // What the node would show, derive addresses from and verify under: another key's, or (Taproot)
    // 32 bytes of the right point that keep its parity byte instead of the x-only key.
    const wrong = [b[0]!.publicKey];
    if (scheme === 'schnorr-secp256k1-tr') wrong.push(a[0]!.groupPoint.slice(0, 32));
    for (const publicKey of wrong) {
      expect(() => new KeyShare({ ...view, publicKey, secretMaterial })).toThrow(
        /publicKey must be the .* encoding of groupPoint/,
      );
    }
    // Parsed: the stored bytes with another key's publicKey and a recomputed checksum.
    const bytes = a[0]!.toBytes();
    const at = indexOf(bytes, a[0]!.publicKey);
    expect(at).toBeGreaterThan(0);
    const altered = bytes.slice();
    altered.set(b[0]!.publicKey, at);
    const body = altered.subarray(0, altered.length - 32);
    altered.set(sha256(body), body.length);
    expect(() => KeyShare.fromBytes(altered)).toThrow(/publicKey must be the .* encoding of groupPoint/);
  });
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let k = 0; k < needle.length; k++) if (haystack[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}
