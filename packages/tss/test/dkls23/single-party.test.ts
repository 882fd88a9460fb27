// The per-party factories a signer node uses (each node holds only its own share and its own RNG),
// through the package's public surface. The parties of one run never share an object: every
// message goes through the wire codec in runParties.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { derivePublicKey } from '../../src/dkls23/index.ts';
import * as tss from '../../src/index.ts';
import {
  ecdsaFinishPresignedParty,
  ecdsaKeygenParty,
  ecdsaPresignParty,
  ecdsaRefreshParty,
  ecdsaSignParty,
  isPairwiseSetupUsable,
  type KeyShare,
  markPairwiseSetupUnusable,
  type Presignature,
  seededRng,
  UsageError,
} from '../../src/index.ts';
import { runParties } from '../../src/simulation/network.ts';

function verify(sig: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean {
  return secp256k1.verify(sig.subarray(0, 64), digest, publicKey, { prehash: false, format: 'compact' });
}

describe('DKLs23 per-party factories (signer node)', () => {
  const shares = runParties(
    [1, 2, 3].map((index) =>
      ecdsaKeygenParty({
        session: 'node-keygen',
        index,
        threshold: 2,
        parties: 3,
        rng: seededRng(`node-${index}`),
      }),
    ),
  );
  const byIndex = (i: number): KeyShare => shares.find((s) => s.index === i)!;

  it('key generation, one party per node, agrees on the key', () => {
    for (const s of shares) expect(s.publicKey).toEqual(shares[0]!.publicKey);
  });

  it('signing, one party per node, verifies under the key', () => {
    const digest = seededRng('digest')(32);
    const signers = [1, 3];
    const sigs = runParties(
      signers.map((i) =>
        ecdsaSignParty({
          session: 'node-sign',
          share: byIndex(i),
          signers,
          message: digest,
          rng: seededRng(`sign-${i}`),
        }),
      ),
    );
    expect(sigs[1]).toEqual(sigs[0]);
    expect(verify(sigs[0]!, digest, shares[0]!.publicKey)).toBe(true);
  });

  it('presign then finish, one party per node; a second finish is refused', () => {
    const signers = [2, 3];
    const pres: Presignature[] = runParties(
      signers.map((i) =>
        ecdsaPresignParty({
          session: 'node-presign',
          share: byIndex(i),
          signers,
          path: 'm/4',
          rng: seededRng(`pre-${i}`),
        }),
      ),
    );
    expect(pres[1]!.id).toBe(pres[0]!.id);
    const digest = seededRng('presigned digest')(32);
    const [sig] = runParties(
      pres.map((presignature) => ecdsaFinishPresignedParty({ presignature, message: digest, path: 'm/4' })),
    );
    expect(verify(sig!, digest, derivePublicKey(shares[0]!, 'm/4'))).toBe(true);
    expect(() => ecdsaFinishPresignedParty({ presignature: pres[0]!, message: digest, path: 'm/4' })).toThrow(
      /presignature-reused/,
    );
  });

  it('refresh, one party per node, keeps the key and the refreshed shares sign', () => {
    const fresh = runParties(
      shares.map((share) =>
        ecdsaRefreshParty({ session: 'node-refresh', share, rng: seededRng(`ref-${share.index}`) }),
      ),
    );
    for (const s of fresh) expect(s.publicKey).toEqual(shares[0]!.publicKey);
    const digest = seededRng('after refresh')(32);
    const signers = [1, 2];
    const sigs = runParties(
      signers.map((i) =>
        ecdsaSignParty({
          session: 'node-sign-refreshed',
          share: fresh.find((s) => s.index === i)!,
          signers,
          message: digest,
          rng: seededRng(`signr-${i}`),
        }),
      ),
    );
    expect(verify(sigs[0]!, digest, shares[0]!.publicKey)).toBe(true);
  });

  it('marking a pairwise setup unusable is visible through the public surface', () => {
    expect(isPairwiseSetupUsable(byIndex(1), 2)).toBe(true);
    const marked = markPairwiseSetupUnusable(byIndex(1), 2);
    expect(isPairwiseSetupUsable(marked, 2)).toBe(false);
    expect(isPairwiseSetupUsable(marked, 3)).toBe(true);
  });

  it('refuses out-of-range indices, empty sessions and signing sets without this party', () => {
    const rng = seededRng('usage');
    expect(() => ecdsaKeygenParty({ session: 's', index: 0, threshold: 2, parties: 3, rng })).toThrow(
      UsageError,
    );
    expect(() => ecdsaKeygenParty({ session: 's', index: 4, threshold: 2, parties: 3, rng })).toThrow(
      UsageError,
    );
    expect(() => ecdsaKeygenParty({ session: '', index: 1, threshold: 2, parties: 3, rng })).toThrow(
      UsageError,
    );
    const message = new Uint8Array(32);
    expect(() => ecdsaSignParty({ session: 's', share: byIndex(1), signers: [2, 3], message, rng })).toThrow(
      UsageError,
    );
    expect(() => ecdsaSignParty({ session: '', share: byIndex(1), signers: [1, 2], message, rng })).toThrow(
      UsageError,
    );
  });

  it('the public surface has no test seam', () => {
    expect('__TESTS' in tss).toBe(false);
  });
});
