// The sealed Ed25519 identity signs through Node's OpenSSL: its signatures must be exactly the RFC 8032
// signatures noble computes from the same seed (Ed25519 is deterministic), the seed handed over is
// zeroed, and a wiped identity refuses to sign.
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, test } from 'vitest';
import { HsmError } from '../src/errors.ts';
import { SealedIdentity } from '../src/identity.ts';

describe('SealedIdentity', () => {
  test('signs exactly as noble does from the same seed (RFC 8032), for messages of several lengths', async () => {
    for (const length of [0, 1, 32, 33, 1000]) {
      const seed = new Uint8Array(randomBytes(32));
      const copy = seed.slice();
      const identity = new SealedIdentity(seed);
      expect(identity.publicKey).toEqual(ed25519.getPublicKey(copy));
      const message = new Uint8Array(randomBytes(length));
      const signature = await identity.sign(message);
      expect(signature).toEqual(ed25519.sign(message, copy));
      expect(ed25519.verify(signature, message, identity.publicKey)).toBe(true);
    }
  });

  test('RFC 8032 §7.1 test 1: public key and signature of the empty message', async () => {
    const seed = Uint8Array.from(
      Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'),
    );
    const identity = new SealedIdentity(seed);
    expect(Buffer.from(identity.publicKey).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    expect(Buffer.from(await identity.sign(new Uint8Array(0))).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  test('takes ownership of the seed (zeroed) and refuses to sign once wiped', async () => {
    const seed = new Uint8Array(randomBytes(32));
    const identity = new SealedIdentity(seed);
    expect(seed.every((b) => b === 0)).toBe(true);
    identity.wipe();
    const error = await identity.sign(new Uint8Array(1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HsmError);
    expect((error as HsmError).code).toBe('keystore-closed');
  });
});
