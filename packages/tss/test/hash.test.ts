// The two builds of "#hash" (package.json "imports"): SHA-256 by Node's OpenSSL and by noble give the
// FIPS 180-4 digests and the same bytes for every input length, also for a view into a larger buffer.
// (SHAKE256 of both builds: test/dkls23/xof.test.ts.)
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import * as nobleBackend from '../src/hash/noble.ts';
import * as nodeBackend from '../src/hash/node.ts';
import { seededRng } from '../src/rng.ts';

describe('SHA-256 backends', () => {
  it('give the FIPS 180-4 example digests', () => {
    for (const backend of [nodeBackend, nobleBackend]) {
      expect(bytesToHex(backend.sha256(utf8ToBytes('abc')))).toBe(
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      );
      expect(bytesToHex(backend.sha256(new Uint8Array(0)))).toBe(
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      );
      expect(
        bytesToHex(backend.sha256(utf8ToBytes('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
      ).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    }
  });

  it('agree on every length around the 64-byte block and on views into larger buffers', () => {
    expect(nodeBackend.HASH_BACKEND).toBe('node:crypto');
    expect(nobleBackend.HASH_BACKEND).toBe('noble');
    const rng = seededRng('sha256-backends');
    for (const length of [1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 40_000]) {
      const data = rng(length);
      const digest = nodeBackend.sha256(data);
      expect(digest).toHaveLength(32);
      expect(digest).toEqual(nobleBackend.sha256(data));
      const buffer = rng(length + 20);
      const view = buffer.subarray(7, 7 + length);
      expect(nodeBackend.sha256(view)).toEqual(nobleBackend.sha256(Uint8Array.from(view)));
    }
  });
});
