// Consistency checks run whenever a KeyShare is built or parsed. They make a corrupted or
// tampered share fail loudly at load time instead of producing a bad signature share later.
// Convention for every scheme: secretMaterial starts with the party's 32-byte secret share x_i in the
// group's scalar encoding; anything after it is scheme-specific.
import { DecodeError } from './codec/bytes.ts';
import { validateEcdsaMaterial } from './dkls23/material.ts';
import { groupOf, lagrangeCoefficient } from './group.ts';
import type { KeyShareFields } from './keyshare.ts';
import type { SchemeId } from './schemes.ts';

export const SECRET_SHARE_LENGTH = 32;

type PublicView = Omit<KeyShareFields, 'secretMaterial'>;

export function validateSchemeMaterial(scheme: SchemeId, view: PublicView, secret: Uint8Array): void {
  const group = groupOf(scheme);
  if (secret.length < SECRET_SHARE_LENGTH) throw new DecodeError('secretMaterial: missing the secret share');
  const x = group.decodeScalar(secret.subarray(0, SECRET_SHARE_LENGTH), 'secretMaterial.share');
  const shares = view.publicShares.map((p, i) => group.decodePoint(p, `publicShares[${i}]`));
  const own = shares[view.index - 1]!;
  if (!group.base(x).equals(own))
    throw new DecodeError('secretMaterial.share: does not match this party’s public share');
  // Every public share must lie on one polynomial of degree t−1 whose value at 0 is the group key:
  // interpolate from parties 1..t and compare at 0 and at every other index.
  const basis = Array.from({ length: view.threshold }, (_, i) => i + 1);
  const group0 = group.decodePoint(view.groupPoint, 'groupPoint');
  const interpolate = (at: number) =>
    basis.reduce(
      (acc, j) => acc.add(shares[j - 1]!.multiply(lagrangeCoefficient(group.order, j, basis, at))),
      group.zero(),
    );
  if (!interpolate(0).equals(group0))
    throw new DecodeError('publicShares: do not interpolate to the group key');
  for (let j = view.threshold + 1; j <= view.parties; j++) {
    if (!interpolate(j).equals(shares[j - 1]!))
      throw new DecodeError(
        `publicShares[${j - 1}]: not on the same degree-${view.threshold - 1} polynomial`,
      );
  }
  if (scheme === 'ecdsa-secp256k1') validateEcdsaMaterial(view, secret);
}
