import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { __TESTS } from '../../src/dkls23/index.ts';
import { simulateRefresh } from '../../src/dkls23/simulate.ts';
import { ProtocolAbort, UsageError } from '../../src/errors.ts';
import { keyShareSecret } from '../../src/keyshare.ts';
import { seededRng } from '../../src/rng.ts';
import { runParties } from '../../src/simulation/network.ts';
import { abortOf, flipByte, keygen, pick, rewrite, sign } from './fixtures.ts';

describe('DKLs23 refresh', () => {
  const old = keygen(2, 3, 'refresh-keygen');
  const fresh = simulateRefresh({ shares: old, rng: seededRng('refresh') });

  it('keeps the public key, chain code and key id, and changes every share and setup', () => {
    for (let k = 0; k < 3; k++) {
      expect(fresh[k]!.publicKey).toEqual(old[k]!.publicKey);
      expect(fresh[k]!.chainCode).toEqual(old[k]!.chainCode);
      expect(fresh[k]!.keyId).toEqual(old[k]!.keyId);
      expect(keyShareSecret(fresh[k]!).subarray(0, 32)).not.toEqual(keyShareSecret(old[k]!).subarray(0, 32));
      expect(fresh[k]!.publicMaterial).not.toEqual(old[k]!.publicMaterial);
    }
  });

  it('refreshed shares sign under the same key', () => {
    const digest = seededRng('refresh-digest')(32);
    const sig = sign(pick(fresh, [1, 3]), digest, 'refresh-sign');
    expect(secp256k1.verify(sig.slice(0, 64), digest, old[0]!.publicKey, { prehash: false })).toBe(true);
  });

  it('a refreshed share combined with an old one signs nothing', () => {
    const digest = seededRng('refresh-mix')(32);
    expect(() => sign([fresh[0]!, old[1]!], digest, 'refresh-mix')).toThrow(ProtocolAbort);
  });
});

describe('DKLs23 refresh under attack', () => {
  const old = keygen(2, 3, 'refresh-attack-keygen');

  it('a refresh share off the zero-constant polynomial aborts, blaming its dealer', () => {
    const parties = __TESTS.refreshPartiesWithFaults(
      { session: 'refresh-attack', shares: old, rng: seededRng('refresh-attack') },
      new Map([[3, { shareOffset: 5n }]]),
    );
    const abort = abortOf(() => runParties(parties));
    expect(abort.reason).toBe('invalid-share');
    expect(abort.culprits).toEqual([3]);
  });

  it('a tampered refresh message aborts, blaming its sender', () => {
    const abort = abortOf(() =>
      simulateRefresh({
        shares: old,
        rng: seededRng('refresh-tamper'),
        tamper: rewrite(
          (i) => i.round === 2 && !i.broadcast && i.from === 2 && i.recipient === 1,
          flipByte(31),
        ),
      }),
    );
    expect(abort.culprits).toEqual([2]);
  });

  it('refresh needs every share', () => {
    expect(() => simulateRefresh({ shares: old.slice(0, 2), rng: seededRng('refresh-few') })).toThrow(
      UsageError,
    );
  });
});
