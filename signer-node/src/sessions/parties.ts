// Builds the ONE protocol party this node plays in a session. Protocol code stays in @coffer/tss; the
// node only picks the constructor and passes its own randomness.
import {
  ecdsaFinishPresignedParty,
  ecdsaKeygenParty,
  ecdsaPresignParty,
  ecdsaSignParty,
  FrostKeygenParty,
  FrostSignParty,
  type KeyShare,
  type Party,
  type Presignature,
  SCHEMES,
  type SchemeId,
  systemRng,
} from '@coffer/tss';

/** The schemes a node runs: all of @coffer/tss's. */
export const SCHEME_IDS: readonly SchemeId[] = SCHEMES;

export function keygenParty(opts: {
  scheme: SchemeId;
  session: string;
  index: number;
  threshold: number;
  parties: number;
}): Party<KeyShare> {
  const { scheme, session, index, threshold, parties } = opts;
  if (scheme === 'ecdsa-secp256k1')
    return ecdsaKeygenParty({ session, index, threshold, parties, rng: systemRng });
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
    return ecdsaSignParty({ session, share, signers, message, path, rng: systemRng });
  return new FrostSignParty({ session, share, signers, message, path, rng: systemRng });
}

/** DKLs23 rounds 1–2 (message-independent): a presignature bound to key, signing set and path. */
export function presignParty(opts: {
  session: string;
  share: KeyShare;
  signers: readonly number[];
  path: string;
}): Party<Presignature> {
  if (opts.share.scheme !== 'ecdsa-secp256k1')
    throw new Error(`presignatures exist for ecdsa-secp256k1 only, not ${opts.share.scheme}`);
  return ecdsaPresignParty({ ...opts, rng: systemRng });
}

/** The one online round of a presigned ECDSA signature; consumes the in-memory presignature. */
export function finishPresignedParty(opts: {
  presignature: Presignature;
  message: Uint8Array;
  path: string;
}): Party<Uint8Array> {
  return ecdsaFinishPresignedParty(opts);
}

/** Bytes the API accepts to sign: a 32-byte digest for ECDSA and BIP340, the message itself for Ed25519. */
export function messageLengthOk(scheme: SchemeId, length: number): boolean {
  return scheme === 'eddsa-ed25519' ? length >= 1 && length <= 4096 : length === 32;
}
