// Honest FROST runs for both schemes: key generation for several (t, n), signing by random
// non-contiguous subsets, every signature checked with noble's standard verifiers.
import { inspect } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr } from '@noble/curves/secp256k1.js';
import { HDKey } from '@scure/bip32';
import { describe, expect, it } from 'vitest';
import { KeyShare, type SchemeId } from '../src/index.ts';
import { keyShareSecret } from '../src/keyshare.ts';
import { derivePublicKey, simulateKeygen, simulateSign } from '../src/simulator.ts';
import { randomSubset } from './helpers.ts';

const FROST_SCHEMES = ['schnorr-secp256k1-tr', 'eddsa-ed25519'] as const satisfies readonly SchemeId[];
const verify = (scheme: SchemeId, sig: Uint8Array, msg: Uint8Array, pub: Uint8Array) =>
  scheme === 'eddsa-ed25519' ? ed25519.verify(sig, msg, pub) : schnorr.verify(sig, msg, pub);

describe.each(FROST_SCHEMES)('FROST %s', (scheme) => {
  it.each([
    [2, 3],
    [3, 5],
    [5, 9],
  ])('%i-of-%i: key generation, then signing by random non-contiguous subsets', async (t, n) => {
    const shares = await simulateKeygen({ scheme, threshold: t, parties: n });
    expect(shares).toHaveLength(n);
    const publicKey = shares[0]!.publicKey;
    expect(publicKey).toHaveLength(32);
    for (const s of shares) {
      expect(s.publicKey).toEqual(publicKey);
      expect(s.keyId).toEqual(shares[0]!.keyId);
      expect(s.chainCode).toEqual(shares[0]!.chainCode);
    }
    expect(shares[0]!.chainCode).toHaveLength(scheme === 'eddsa-ed25519' ? 0 : 32);
    for (let trial = 0; trial < 2; trial++) {
      const subset = randomSubset(n, t, t * 100 + n * 10 + trial);
      const message = new TextEncoder().encode(`coffer ${scheme} ${t}-of-${n} trial ${trial}`);
      const signature = await simulateSign({ shares: subset.map((i) => shares[i - 1]!), message });
      expect(signature).toHaveLength(64);
      expect(verify(scheme, signature, message, publicKey)).toBe(true);
      expect(verify(scheme, signature, new TextEncoder().encode('another message'), publicKey)).toBe(false);
    }
  });

  it('signs with more than t signers', async () => {
    const shares = await simulateKeygen({ scheme, threshold: 2, parties: 4 });
    const message = Uint8Array.of(1, 2, 3);
    const signature = await simulateSign({ shares: [shares[0]!, shares[2]!, shares[3]!], message });
    expect(verify(scheme, signature, message, shares[0]!.publicKey)).toBe(true);
  });

  it('refuses fewer than t signers and shares of different keys', async () => {
    const a = await simulateKeygen({ scheme, threshold: 2, parties: 3 });
    const b = await simulateKeygen({ scheme, threshold: 2, parties: 3 });
    const message = Uint8Array.of(9);
    await expect(simulateSign({ shares: [a[0]!], message })).rejects.toThrow(/at least 2/);
    await expect(simulateSign({ shares: [a[0]!, b[1]!], message })).rejects.toThrow(/different keys/);
    await expect(simulateSign({ shares: [a[0]!, a[0]!], message })).rejects.toThrow(/twice/);
  });

  it('rejects out-of-range parameters before any message', async () => {
    await expect(simulateKeygen({ scheme, threshold: 1, parties: 3 })).rejects.toThrow(/threshold/);
    await expect(simulateKeygen({ scheme, threshold: 4, parties: 3 })).rejects.toThrow(/threshold/);
    await expect(simulateKeygen({ scheme, threshold: 2, parties: 16 })).rejects.toThrow(/parties/);
  });

  it('is reproducible from a seed and fresh without one', async () => {
    const a = await simulateKeygen({ scheme, threshold: 2, parties: 3, seed: 'fixed' });
    const b = await simulateKeygen({ scheme, threshold: 2, parties: 3, seed: 'fixed' });
    const c = await simulateKeygen({ scheme, threshold: 2, parties: 3 });
    expect(a[0]!.publicKey).toEqual(b[0]!.publicKey);
    expect(a[0]!.publicKey).not.toEqual(c[0]!.publicKey);
  });

  it('KeyShare.fromBytes round-trips; truncated or altered bytes are rejected', async () => {
    const shares = await simulateKeygen({ scheme, threshold: 2, parties: 3 });
    const bytes = shares[1]!.toBytes();
    const copy = KeyShare.fromBytes(bytes);
    expect(copy.toBytes()).toEqual(bytes);
    expect(copy.index).toBe(2);
    const message = Uint8Array.of(7, 7);
    const signature = await simulateSign({ shares: [shares[0]!, copy], message });
    expect(verify(scheme, signature, message, shares[0]!.publicKey)).toBe(true);
    expect(() => KeyShare.fromBytes(bytes.subarray(0, bytes.length - 1))).toThrow(/checksum|truncated/);
    expect(() => KeyShare.fromBytes(bytes.subarray(0, 10))).toThrow(/truncated/);
    for (const offset of [0, 6, 20, bytes.length - 40, bytes.length - 1]) {
      const altered = Uint8Array.from(bytes);
      altered[offset]! ^= 0x40;
      expect(() => KeyShare.fromBytes(altered)).toThrow(/invalid key share/);
    }
  });

  it('never shows the secret share in JSON, inspect or string form', async () => {
    const [share] = await simulateKeygen({ scheme, threshold: 2, parties: 3 });
    const bytes = share!.toBytes();
    // The secret share is the 32 bytes right before the 32-byte checksum.
    const secretHex = Buffer.from(bytes.subarray(bytes.length - 64, bytes.length - 32)).toString('hex');
    for (const text of [
      JSON.stringify(share),
      JSON.stringify({ nested: [share] }),
      inspect(share),
      String(share),
    ]) {
      expect(text).toContain('redacted');
      expect(text).not.toContain(secretHex);
    }
  });
});

describe('derivation', () => {
  it('taproot: derivePublicKey equals @scure/bip32 on the group xpub, and signing under the child verifies', async () => {
    const shares = await simulateKeygen({ scheme: 'schnorr-secp256k1-tr', threshold: 2, parties: 3 });
    const share = shares[0]!;
    const xpub = new HDKey({ publicKey: share.groupPoint, chainCode: share.chainCode });
    for (const path of ['m/0', 'm/0/7', 'm/44/0/0/1', `m/${2 ** 31 - 1}/3`]) {
      const expected = xpub.derive(path).publicKey!;
      expect(derivePublicKey(share, path)).toEqual(expected.slice(1));
    }
    const message = new TextEncoder().encode('derived taproot spend');
    const signature = await simulateSign({ shares: [shares[2]!, shares[0]!], message, path: 'm/0/7' });
    const child = derivePublicKey(share, 'm/0/7');
    expect(schnorr.verify(signature, message, child)).toBe(true);
    expect(schnorr.verify(signature, message, share.publicKey)).toBe(false);
  });

  it('refuses hardened steps with a clear error', async () => {
    const [share] = await simulateKeygen({ scheme: 'schnorr-secp256k1-tr', threshold: 2, parties: 3 });
    expect(() => derivePublicKey(share!, "m/44'/0")).toThrow(/hardened/);
    expect(() => derivePublicKey(share!, 'x/1')).toThrow(/must start with "m"/);
  });

  it('eddsa-ed25519: derivation is refused with a clear error', async () => {
    const shares = await simulateKeygen({ scheme: 'eddsa-ed25519', threshold: 2, parties: 3 });
    expect(() => derivePublicKey(shares[0]!, 'm/0')).toThrow(/do not support derivation/);
    await expect(
      simulateSign({ shares: shares.slice(0, 2), message: Uint8Array.of(1), path: 'm/1' }),
    ).rejects.toThrow(/do not support derivation/);
    expect(derivePublicKey(shares[0]!, 'm')).toEqual(shares[0]!.publicKey);
  });
});

describe('KeyShare consistency checks (shares built from inconsistent parts are refused)', () => {
  it('refuses a secret that does not match its public share, and public shares off the polynomial', async () => {
    const a = await simulateKeygen({ scheme: 'schnorr-secp256k1-tr', threshold: 2, parties: 3 });
    const b = await simulateKeygen({ scheme: 'schnorr-secp256k1-tr', threshold: 2, parties: 3 });
    const view = a[0]!.publicView();
    // Secret share of another key under this key's public data.
    expect(() => new KeyShare({ ...view, secretMaterial: keyShareSecret(b[0]!) })).toThrow(
      /does not match this party’s public share/,
    );
    // Party 3's public share replaced by another key's: no longer on the degree-1 polynomial.
    const publicShares = view.publicShares.map((p, i) => (i === 2 ? b[0]!.publicShares[2]! : p));
    expect(() => new KeyShare({ ...view, publicShares, secretMaterial: keyShareSecret(a[0]!) })).toThrow(
      /not on the same degree-1 polynomial/,
    );
    // Group key (with its public key) that the public shares do not interpolate to.
    expect(
      () =>
        new KeyShare({
          ...view,
          groupPoint: b[0]!.groupPoint,
          publicKey: b[0]!.publicKey,
          secretMaterial: keyShareSecret(a[0]!),
        }),
    ).toThrow(/do not interpolate to the group key/);
    // The untouched parts still build.
    expect(new KeyShare({ ...view, secretMaterial: keyShareSecret(a[0]!) }).toBytes()).toEqual(
      a[0]!.toBytes(),
    );
  });
});
