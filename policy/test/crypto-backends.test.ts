// The Node build (OpenSSL) and the browser build (noble) of "#crypto" must accept exactly the same
// signatures under keys.ts's strict rules, or an approval could count on a signer node and not in an
// approver console (or the reverse). Each rejection below is an input one library alone accepts, or a
// classic forgery: the rule that refuses it is what the test would catch being removed.
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, hexToBytes, numberToBytesLE } from '@noble/curves/utils.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { backend as platform } from '#crypto';
import { backend as nobleBackend } from '../src/crypto-noble.ts';
import { backend as nodeBackend } from '../src/crypto-node.ts';
import { ed25519Verifier, SigningKey } from '../src/keys.ts';

const Point = ed25519.Point;
const L = Point.Fn.ORDER;
const seed = (label: string) => nobleSha256(utf8ToBytes(`coffer-test/ed25519/${label}`));
const message = utf8ToBytes('coffer/approval/1\u0000{"approverId":"bob"}');

/**
 * Signs with an explicit nonce point R = [r]B + extraR under the public key bytes `publicKey` (which may
 * carry a small-order component): how an adversary holding the secret scalar builds signatures that
 * only a cofactored verifier, or only a cofactorless one, accepts. RFC 8032 §5.1.6 with k over the
 * given encodings.
 */
function craft(label: string, publicKey: Uint8Array, msg: Uint8Array, extraR = Point.ZERO): string {
  const { scalar } = ed25519.utils.getExtendedPublicKey(seed(label));
  const r = Point.Fn.create(bytesToNumberLE(sha512(seed(`${label}/nonce`))));
  const R = Point.BASE.multiply(r).add(extraR).toBytes();
  const k = Point.Fn.create(bytesToNumberLE(sha512(concatBytes(R, publicKey, msg))));
  const S = Point.Fn.create(r + k * scalar);
  return bytesToHex(concatBytes(R, numberToBytesLE(S, 32)));
}

const order8 = Point.fromHex(
  ED25519_TORSION_SUBGROUP.find((t) => !Point.fromHex(t).multiply(4n).is0()) as string,
);

describe('#crypto resolves per platform', () => {
  it('is OpenSSL under Node (package.json "imports", condition "node")', () => {
    expect(platform.name).toBe('node:crypto');
  });

  it('SHA-256 agrees between the backends on bytes and on UTF-8 text', () => {
    expect(bytesToHex(nodeBackend.sha256('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    for (const text of ['', 'abc', 'coffer/request/1\u0000{"a":"é€𝄞"}', 'x'.repeat(1000)]) {
      expect(bytesToHex(nodeBackend.sha256(text))).toBe(bytesToHex(nobleBackend.sha256(text)));
      const bytes = utf8ToBytes(text);
      expect(bytesToHex(nodeBackend.sha256(bytes))).toBe(bytesToHex(nobleSha256(bytes)));
      expect(bytesToHex(nobleBackend.sha256(bytes))).toBe(bytesToHex(nobleSha256(bytes)));
    }
  });
});

describe('the crafted inputs are real (so the rejections below test a rule, not a typo)', () => {
  it('plain noble (cofactored) accepts R with a small-order component; OpenSSL does not', () => {
    const A = ed25519.getPublicKey(seed('torsion-r'));
    const sig = hexToBytes(craft('torsion-r', A, message, order8));
    expect(ed25519.verify(sig, message, A, { zip215: false })).toBe(true);
    expect(nodeBackend.ed25519Verify(sig, message, nodeBackend.ed25519PublicKey(A))).toBe(false);
  });

  it('OpenSSL accepts a forgery under the identity public key; noble refuses small-order keys', () => {
    const identity = Point.ZERO.toBytes();
    const forged = concatBytes(identity, new Uint8Array(32));
    expect(nodeBackend.ed25519Verify(forged, message, nodeBackend.ed25519PublicKey(identity))).toBe(true);
    expect(ed25519.verify(forged, message, identity, { zip215: false })).toBe(false);
  });
});

describe.each([
  ['node:crypto', nodeBackend],
  ['noble', nobleBackend],
] as const)('strict Ed25519 over %s', (_name, backend) => {
  const verify = ed25519Verifier(backend as Parameters<typeof ed25519Verifier>[0]);
  const signer = SigningKey.generate(seed('signer'));
  const other = SigningKey.generate(seed('other'));
  const signature = bytesToHex(signer.sign(message));

  it('accepts valid signatures (empty, short and long messages, several keys)', () => {
    for (const [i, msg] of [new Uint8Array(0), message, new Uint8Array(4096).fill(7)].entries()) {
      const k = SigningKey.generate(seed(`valid-${i}`));
      expect(verify(bytesToHex(k.sign(msg)), msg, k.publicKey)).toBe(true);
    }
  });

  it('rejects another key, another message and every flipped bit of signature or message', () => {
    expect(verify(signature, message, signer.publicKey)).toBe(true);
    expect(verify(signature, message, other.publicKey)).toBe(false);
    expect(verify(signature, utf8ToBytes('another message'), signer.publicKey)).toBe(false);
    const sig = hexToBytes(signature);
    for (const bit of [0, 7, 255, 256, 300, 511]) {
      const flipped = Uint8Array.from(sig);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(verify(bytesToHex(flipped), message, signer.publicKey), `signature bit ${bit}`).toBe(false);
    }
    for (const bit of [0, 13, message.length * 8 - 1]) {
      const flipped = Uint8Array.from(message);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(verify(signature, flipped, signer.publicKey), `message bit ${bit}`).toBe(false);
    }
  });

  it('rejects a non-canonical S (S + L, same point equation: malleability)', () => {
    const sig = hexToBytes(signature);
    const S = bytesToNumberLE(sig.subarray(32));
    const malleated = concatBytes(sig.subarray(0, 32), numberToBytesLE(S + L, 32));
    expect(verify(bytesToHex(malleated), message, signer.publicKey)).toBe(false);
  });

  it('rejects forgeries under the identity and every other small-order public key', () => {
    const forged = bytesToHex(concatBytes(Point.ZERO.toBytes(), new Uint8Array(32)));
    for (const torsion of ED25519_TORSION_SUBGROUP) {
      for (let i = 0; i < 16; i++) {
        expect(verify(forged, utf8ToBytes(`m${i}`), torsion), `key ${torsion.slice(0, 8)}`).toBe(false);
      }
    }
  });

  it('rejects keys with a small-order component and non-canonical key encodings', () => {
    const A = Point.fromBytes(ed25519.getPublicKey(seed('mixed')));
    const mixed = A.add(order8).toBytes();
    for (let i = 0; i < 16; i++) {
      const msg = utf8ToBytes(`mixed ${i}`);
      expect(verify(craft('mixed', mixed, msg), msg, bytesToHex(mixed))).toBe(false);
    }
    // y = 3 + p encodes the same point as y = 3, non-canonically.
    const nonCanonical = numberToBytesLE(3n + 2n ** 255n - 19n, 32);
    expect(verify(signature, message, bytesToHex(nonCanonical))).toBe(false);
  });

  it('rejects a signature whose R has a small-order component', () => {
    const A = ed25519.getPublicKey(seed('torsion-r'));
    expect(verify(craft('torsion-r', A, message, order8), message, bytesToHex(A))).toBe(false);
    expect(verify(craft('torsion-r', A, message), message, bytesToHex(A))).toBe(true);
  });

  it('refuses malformed hex without throwing', () => {
    expect(verify(signature.toUpperCase(), message, signer.publicKey)).toBe(false);
    expect(verify(signature.slice(2), message, signer.publicKey)).toBe(false);
    expect(verify(signature, message, `${signer.publicKey}00`)).toBe(false);
    expect(verify('zz'.repeat(64), message, signer.publicKey)).toBe(false);
  });

  it('a remembered success needs the same key, signature and message bytes', () => {
    const msg = Uint8Array.from(message);
    expect(verify(signature, msg, signer.publicKey)).toBe(true);
    msg[0]! ^= 1; // the caller's buffer changes after the first check
    expect(verify(signature, msg, signer.publicKey)).toBe(false);
    expect(verify(signature, message, other.publicKey)).toBe(false);
    expect(verify(signature, message.subarray(1), signer.publicKey)).toBe(false);
  });
});

describe('both backends give the same answer', () => {
  const node = ed25519Verifier(nodeBackend);
  const noble = ed25519Verifier(nobleBackend);
  it('on 64 signatures, each valid and with one random bit flipped', () => {
    for (let i = 0; i < 64; i++) {
      const k = SigningKey.generate(seed(`agree-${i}`));
      const msg = seed(`agree-message-${i}`);
      const sig = k.sign(msg);
      const flipped = Uint8Array.from(sig);
      const bit = seed(`agree-bit-${i}`)[0]! * 2 + (i & 1);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      for (const s of [sig, flipped]) {
        expect(node(bytesToHex(s), msg, k.publicKey)).toBe(noble(bytesToHex(s), msg, k.publicKey));
      }
      expect(node(bytesToHex(sig), msg, k.publicKey)).toBe(true);
    }
  });
});
