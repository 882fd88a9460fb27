// Builds the ONE protocol party this node plays in a session. Protocol code stays in @coffer/tss; the
// node only picks the constructor and passes its own randomness.
//
// DKLs23 (ecdsa-secp256k1) is not on @coffer/tss's public surface yet, and its factories build every
// party of a run at once (they need every share for signing). Until @coffer/tss exports per-party
// constructors (see signer-node/README.md "Needed from packages/tss"), this file is the single place
// that reaches into packages/tss/src/dkls23 for them.
import {
  FrostKeygenParty,
  FrostSignParty,
  type KeyShare,
  type Party,
  type SchemeId,
  systemRng,
} from '@coffer/tss';
import { ecdsaKeygenParties } from '../../../packages/tss/src/dkls23/index.ts';
import { signContext } from '../../../packages/tss/src/dkls23/sign/context.ts';
import { SignParty } from '../../../packages/tss/src/dkls23/sign/party.ts';

export const SCHEME_IDS: readonly SchemeId[] = ['ecdsa-secp256k1', 'schnorr-secp256k1-tr', 'eddsa-ed25519'];

export function keygenParty(opts: {
  scheme: SchemeId;
  session: string;
  index: number;
  threshold: number;
  parties: number;
}): Party<KeyShare> {
  const { scheme, session, index, threshold, parties } = opts;
  if (scheme === 'ecdsa-secp256k1') {
    const party = ecdsaKeygenParties({ session, threshold, parties, rng: systemRng })[index - 1];
    if (!party) throw new RangeError(`index ${index} is not in 1..${parties}`);
    return party;
  }
  return new FrostKeygenParty({ scheme, session, index, threshold, parties, rng: systemRng });
}

export function signParty(opts: {
  session: string;
  share: KeyShare;
  signers: readonly number[];
  message: Uint8Array;
  path: string;
}): Party<Uint8Array> {
  const { session, share, signers, message, path } = opts;
  if (share.scheme === 'ecdsa-secp256k1')
    return new SignParty(signContext(session, share, signers, path), message, systemRng);
  return new FrostSignParty({ session, share, signers, message, path, rng: systemRng });
}

/** Bytes the API accepts to sign: a 32-byte digest for ECDSA and BIP340, the message itself for Ed25519. */
export function messageLengthOk(scheme: SchemeId, length: number): boolean {
  return scheme === 'eddsa-ed25519' ? length >= 1 && length <= 4096 : length === 32;
}
