// Consistency checks run whenever a KeyShare is built or parsed. They make a corrupted or
// tampered share fail loudly at load time instead of producing a bad signature share later.
// Convention for every scheme: secretMaterial starts with the party's 32-byte secret share x_i in the
// group's scalar encoding; anything after it is scheme-specific.
//
// A signer node unseals and parses a share for every signing, so the checks are split by what they
// depend on. The public-data check (every public share decodes to a valid point and all lie on one
// polynomial of degree t−1 through the group key) depends only on public bytes and is remembered
// per exact public data (scheme, t, n, group point, public shares; a bounded table that holds no
// secret). The checks that involve the secret — x_i decodes below the order and x_i·G is this
// party's public share — and the scheme-specific material run on every load.
import { bytesToHex } from '@noble/hashes/utils.js';
import { DecodeError, equalBytes } from './codec/bytes.ts';
import { validateEcdsaMaterial } from './dkls23/material.ts';
import { type GroupPoint, groupOf, lagrangeCoefficient } from './group.ts';
import type { KeyShareFields } from './keyshare.ts';
import type { SchemeId } from './schemes.ts';

export const SECRET_SHARE_LENGTH = 32;

type PublicView = Omit<KeyShareFields, 'secretMaterial'>;

/** Public data already found consistent, keyed by its exact bytes; least recently used evicted. */
const MAX_VALIDATED = 256;
const validatedPublic = new Set<string>();

function publicKeyOf(scheme: SchemeId, view: PublicView): string {
  return [
    scheme,
    view.threshold,
    view.parties,
    bytesToHex(view.groupPoint),
    ...view.publicShares.map(bytesToHex),
  ].join(':');
}

export function validateSchemeMaterial(scheme: SchemeId, view: PublicView, secret: Uint8Array): void {
  const group = groupOf(scheme);
  if (secret.length < SECRET_SHARE_LENGTH) throw new DecodeError('secretMaterial: missing the secret share');
  const x = group.decodeScalar(secret.subarray(0, SECRET_SHARE_LENGTH), 'secretMaterial.share');
  const key = publicKeyOf(scheme, view);
  if (validatedPublic.has(key)) {
    // Known-good public data: every public share is a canonical encoding of a valid point (strict
    // decoding rejects any other), so x·G is this party's share exactly when the encodings agree.
    if (!equalBytes(group.base(x).toBytes(), view.publicShares[view.index - 1]!))
      throw new DecodeError('secretMaterial.share: does not match this party’s public share');
    validatedPublic.delete(key);
    validatedPublic.add(key);
  } else {
    const shares = view.publicShares.map((p, i) => group.decodePoint(p, `publicShares[${i}]`));
    if (!group.base(x).equals(shares[view.index - 1]!))
      throw new DecodeError('secretMaterial.share: does not match this party’s public share');
    checkPublicShares(scheme, view, shares);
    validatedPublic.add(key);
    if (validatedPublic.size > MAX_VALIDATED) validatedPublic.delete(validatedPublic.values().next().value!);
  }
  if (scheme === 'ecdsa-secp256k1') validateEcdsaMaterial(view, secret);
}

/**
 * Every public share must lie on one polynomial of degree t−1 whose value at 0 is the group key:
 * interpolate from parties 1..t and compare at 0 and at every other index. Public points and
 * public Lagrange coefficients only, so noble's variable-time multi-scalar multiplication is used.
 */
function checkPublicShares(scheme: SchemeId, view: PublicView, shares: GroupPoint[]): void {
  const group = groupOf(scheme);
  const basis = Array.from({ length: view.threshold }, (_, i) => i + 1);
  const group0 = group.decodePoint(view.groupPoint, 'groupPoint');
  const basisPoints = basis.map((j) => shares[j - 1]!);
  const interpolate = (at: number) =>
    group.publicCombination(
      basisPoints,
      basis.map((j) => lagrangeCoefficient(group.order, j, basis, at)),
    );
  if (!interpolate(0).equals(group0))
    throw new DecodeError('publicShares: do not interpolate to the group key');
  for (let j = view.threshold + 1; j <= view.parties; j++) {
    if (!interpolate(j).equals(shares[j - 1]!))
      throw new DecodeError(
        `publicShares[${j - 1}]: not on the same degree-${view.threshold - 1} polynomial`,
      );
  }
}

/** Test seam only: forget the remembered public data (tests that time or count the full check). */
export function clearValidatedPublicData(): void {
  validatedPublic.clear();
}
