// The two FROST ciphersuites Coffer uses, both from @noble/curves (RFC 9591): FROST(secp256k1,
// SHA-256) with BIP340/Taproot adjustments for `schnorr-secp256k1-tr`, and FROST(Ed25519, SHA-512)
// for `eddsa-ed25519`. This file maps Coffer's party indices and KeyShare onto noble's packages.
import type { FROST, FrostPublic, FrostSecret } from '@noble/curves/abstract/frost.js';
import { ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr_FROST } from '@noble/curves/secp256k1.js';
import { deriveSecp256k1 } from '../derivation.ts';
import { UsageError } from '../errors.ts';
import { ed25519Group, type Group, secp256k1Group } from '../group.ts';
import { type KeyShare, keyShareSecret } from '../keyshare.ts';
import { SECRET_SHARE_LENGTH } from '../keyshare-validate.ts';

export type FrostSchemeId = 'schnorr-secp256k1-tr' | 'eddsa-ed25519';

export type FrostSuite = {
  readonly scheme: FrostSchemeId;
  readonly frost: FROST;
  readonly group: Group;
  /** Length of noble's DKG proof of knowledge (R ‖ z). */
  readonly proofLength: number;
};

export const FROST_SUITES: Record<FrostSchemeId, FrostSuite> = {
  'schnorr-secp256k1-tr': {
    scheme: 'schnorr-secp256k1-tr',
    frost: schnorr_FROST,
    group: secp256k1Group,
    proofLength: 64,
  },
  'eddsa-ed25519': {
    scheme: 'eddsa-ed25519',
    frost: ed25519_FROST,
    group: ed25519Group,
    proofLength: 64,
  },
};

export function isFrostScheme(scheme: string): scheme is FrostSchemeId {
  return scheme === 'schnorr-secp256k1-tr' || scheme === 'eddsa-ed25519';
}

export function frostIdentifier(suite: FrostSuite, index: number): string {
  return suite.frost.Identifier.fromNumber(index);
}

/**
 * A share's noble packages, optionally under a derived child key. For BIP32 non-hardened
 * derivation the child key is K + δ·G: every verifying share moves by δ·G and every secret share by
 * δ, which keeps Lagrange interpolation intact (the coefficients of a signing set sum to 1).
 * BIP340 signing is sound under such public additive tweaks because the challenge commits to the
 * (tweaked) public key. Ed25519 has no standard non-hardened derivation (SLIP-10 defines only
 * hardened steps for it), so Coffer refuses a path there.
 */
export function frostPackages(
  suite: FrostSuite,
  share: KeyShare,
  path?: string,
): { pub: FrostPublic; secret: FrostSecret } {
  const { group } = suite;
  let tweak = 0n;
  let groupPoint = share.groupPoint;
  if (path !== undefined && path !== 'm') {
    if (suite.scheme === 'eddsa-ed25519') throw unsupportedEd25519Derivation(path);
    const derived = deriveSecp256k1(groupPoint, share.chainCode, path);
    tweak = derived.tweak;
    groupPoint = derived.point;
  }
  // The share's public data was validated when the KeyShare was built; only a tweak needs arithmetic.
  const delta = tweak === 0n ? undefined : group.base(tweak);
  const shift = (bytes: Uint8Array, field: string) =>
    delta === undefined ? bytes : group.decodePoint(bytes, field).add(delta).toBytes();
  const verifyingShares: Record<string, Uint8Array> = {};
  share.publicShares.forEach((p, i) => {
    verifyingShares[frostIdentifier(suite, i + 1)] = shift(p, `publicShares[${i}]`);
  });
  const secretScalar = group.decodeScalar(
    keyShareSecret(share).subarray(0, SECRET_SHARE_LENGTH),
    'secret share',
  );
  return {
    pub: {
      signers: { min: share.threshold, max: share.parties },
      commitments: [groupPoint],
      verifyingShares,
    } as FrostPublic,
    secret: {
      identifier: frostIdentifier(suite, share.index),
      signingShare: group.encodeScalar((secretScalar + tweak) % group.order),
    } as FrostSecret,
  };
}

export function unsupportedEd25519Derivation(path: string): UsageError {
  return new UsageError(
    `eddsa-ed25519 keys do not support derivation (path "${path}"): Ed25519 has no standard non-hardened derivation; use a separate key per wallet`,
  );
}
