import { inspect } from 'node:util';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { derivePublicKey, ecdsaSignParties } from '../../src/dkls23/index.ts';
import { UsageError } from '../../src/errors.ts';
import { KeyShare, keyShareSecret } from '../../src/keyshare.ts';
import { seededRng } from '../../src/rng.ts';
import { keygen, pick, sign } from './fixtures.ts';

const N = secp256k1.Point.Fn.ORDER;

describe('DKLs23 key generation and signing, 2-of-3', () => {
  const shares = keygen(2, 3);

  it('every party agrees on the key, chain code and public shares', () => {
    for (const s of shares) {
      expect(s.publicKey).toEqual(shares[0]!.publicKey);
      expect(s.chainCode).toEqual(shares[0]!.chainCode);
      expect(s.publicShares).toEqual(shares[0]!.publicShares);
      expect(s.keyId).toEqual(shares[0]!.keyId);
    }
  });

  it('key share survives serialisation and stays within 62 KB', () => {
    for (const s of shares) {
      const bytes = s.toBytes();
      expect(bytes.length).toBeLessThanOrEqual(62 * 1024);
      expect(KeyShare.fromBytes(bytes).toBytes()).toEqual(bytes);
    }
  });

  it('party objects never print their secret state', () => {
    const parties = ecdsaSignParties({
      session: 'redact',
      shares: pick(shares, [1, 2]),
      message: new Uint8Array(32),
      rng: seededRng('r'),
    });
    for (const p of parties) p.start();
    const secretHex = Buffer.from(keyShareSecret(shares[0]!).subarray(0, 32)).toString('hex');
    for (const p of parties) {
      for (const text of [inspect(p, { depth: 10 }), JSON.stringify(p)]) {
        expect(text).toContain('<redacted>');
        expect(text).not.toContain(secretHex);
        expect(text).not.toMatch(/\d{40}/);
      }
    }
  });

  it('refuses to load a share whose pairwise setup is truncated or altered', () => {
    const s = shares[0]!;
    const secret = keyShareSecret(s);
    const build = (secretMaterial: Uint8Array) => new KeyShare({ ...s.publicView(), secretMaterial });
    expect(() => build(secret.subarray(0, secret.length - 1))).toThrow(/setup/);
    const wrongCount = Uint8Array.from(secret);
    wrongCount[33] = 7; // peer count
    expect(() => build(wrongCount)).toThrow(/setup/);
    expect(() => build(Uint8Array.of(...secret, 0))).toThrow(/setup/);
  });

  it('shares loaded from bytes sign with the setup decoded by the load-time check', () => {
    const bytes = pick(shares, [1, 3]).map((s) => s.toBytes());
    const loaded = bytes.map((b) => KeyShare.fromBytes(b));
    // The caller's buffers may be reused afterwards: the loaded shares keep their own copy.
    for (const b of bytes) b.fill(0);
    const digest = seededRng('loaded-digest')(32);
    const sig = sign(loaded, digest, 'sign-loaded');
    expect(secp256k1.verify(sig.subarray(0, 64), digest, shares[0]!.publicKey, { prehash: false })).toBe(
      true,
    );
    expect(loaded.map((s) => s.toBytes())).toEqual(pick(shares, [1, 3]).map((s) => s.toBytes()));
  });

  it('never prints the secret share or setup', () => {
    const s = shares[0]!;
    expect(JSON.stringify(s)).toContain('<redacted>');
    expect(JSON.stringify(s).length).toBeLessThan(600);
  });

  for (const subset of [
    [1, 3],
    [2, 3],
    [1, 2],
  ]) {
    it(`signs with parties ${subset.join(',')}: noble verifies, low-s, recovery id recovers the key`, () => {
      const digest = seededRng(`digest-${subset}`)(32);
      const sig = sign(pick(shares, subset), digest, `sign-${subset.join('-')}`);
      expect(sig.length).toBe(65);
      expect(secp256k1.verify(sig.slice(0, 64), digest, shares[0]!.publicKey, { prehash: false })).toBe(true);
      const s = BigInt(`0x${Buffer.from(sig.slice(32, 64)).toString('hex')}`);
      expect(s <= N / 2n).toBe(true);
      const recovered = secp256k1.Signature.fromBytes(sig.slice(0, 64), 'compact')
        .addRecoveryBit(sig[64]!)
        .recoverPublicKey(digest)
        .toBytes(true);
      expect(recovered).toEqual(shares[0]!.publicKey);
    });
  }

  it('signs with more than t parties (all three)', () => {
    const digest = seededRng('digest-all')(32);
    const sig = sign(shares, digest, 'sign-all');
    expect(secp256k1.verify(sig.slice(0, 64), digest, shares[0]!.publicKey, { prehash: false })).toBe(true);
  });

  it('works through the generic simulator (simulateKeygen/simulateSign)', async () => {
    const { simulateSign } = await import('../../src/simulator.ts');
    const digest = seededRng('digest-sim')(32);
    const sig = await simulateSign({
      shares: pick(shares, [2, 3]),
      message: digest,
      path: 'm/3',
      seed: 'sim',
    });
    expect(
      secp256k1.verify(sig.slice(0, 64), digest, derivePublicKey(shares[0]!, 'm/3'), { prehash: false }),
    ).toBe(true);
  });

  it('rejects a signing set with a duplicated party index', () => {
    expect(() =>
      ecdsaSignParties({
        session: 'dup',
        shares: [shares[0]!, shares[0]!],
        message: new Uint8Array(32),
        rng: seededRng('dup'),
      }),
    ).toThrow(UsageError);
  });

  it('rejects a message that is not a 32-byte digest', () => {
    expect(() =>
      ecdsaSignParties({
        session: 'len',
        shares: pick(shares, [1, 2]),
        message: new Uint8Array(31),
        rng: seededRng('l'),
      }),
    ).toThrow(UsageError);
  });

  it('rejects too few signers', () => {
    expect(() =>
      ecdsaSignParties({
        session: 'few',
        shares: pick(shares, [1]),
        message: new Uint8Array(32),
        rng: seededRng('f'),
      }),
    ).toThrow(UsageError);
  });
});
