// DKLs23 threshold ECDSA (Doerner–Kondi–Lee–shelat, "Threshold ECDSA in Three Rounds", ePrint
// 2023/765) on secp256k1: party factories for key generation, signing, presigning and refresh, and
// the helpers a node needs around them (derivation, discarded pairwise setups). The single-party
// factories (`ecdsaKeygenParty`, …) are what a signer node uses: each node holds only its own share.
// The all-parties factories (`ecdsaKeygenParties`, …) build every party of a run from them, for the
// in-process simulator.
import { bytesToHex } from '@noble/hashes/utils.js';
import { UsageError } from '../errors.ts';
import type { KeyShare } from '../keyshare.ts';
import type { Party } from '../party.ts';
import type { Rng } from '../rng.ts';
import { MAX_PARTIES, MIN_PARTIES } from '../schemes.ts';
import { DklsKeygenParty } from './dkg/party.ts';
import type { Presignature } from './presign.ts';
import { clearBans, loadShare } from './share.ts';
import { signContext } from './sign/context.ts';
import { FinishPresignedParty, PresignParty, SignParty } from './sign/party.ts';
import type { SignFaults } from './sign/round1.ts';

export { Presignature } from './presign.ts';
export { derivePublicKey, isPairwiseSetupUsable, markPairwiseSetupUnusable } from './share.ts';

export type EcdsaKeygenOptions = { session: string; threshold: number; parties: number; rng: Rng };
export type EcdsaKeygenPartyOptions = EcdsaKeygenOptions & { index: number };
export type EcdsaSignOptions = {
  session: string;
  /** The signing subset: any t shares of one key, indices not necessarily contiguous. */
  shares: readonly KeyShare[];
  /** 32-byte message digest. */
  message: Uint8Array;
  path?: string;
  rng: Rng;
};
export type EcdsaSignPartyOptions = {
  session: string;
  /** This node's own share. */
  share: KeyShare;
  /** Party indices of the whole signing set, this party included. */
  signers: readonly number[];
  /** 32-byte message digest. */
  message: Uint8Array;
  path?: string;
  rng: Rng;
};
export type EcdsaPresignOptions = Omit<EcdsaSignOptions, 'message'>;
export type EcdsaPresignPartyOptions = Omit<EcdsaSignPartyOptions, 'message'>;
export type EcdsaFinishPresignedOptions = {
  presignatures: readonly Presignature[];
  message: Uint8Array;
  path?: string;
};
export type EcdsaFinishPresignedPartyOptions = {
  /** This node's presignature (consumed by the party: a second use throws ProtocolAbort). */
  presignature: Presignature;
  message: Uint8Array;
  /** Must equal the path the presignature was made for ('m' when omitted). */
  path?: string;
};
export type EcdsaRefreshOptions = { session: string; shares: readonly KeyShare[]; rng: Rng };
export type EcdsaRefreshPartyOptions = { session: string; share: KeyShare; rng: Rng };

type DkgFaults = { shareOffset?: bigint };

function checkSession(session: unknown): void {
  if (typeof session !== 'string' || session.length === 0) throw new UsageError('session must be non-empty');
}

function checkKeygenShape(t: number, n: number): void {
  if (!Number.isInteger(n) || n < MIN_PARTIES || n > MAX_PARTIES)
    throw new UsageError(`parties must be in ${MIN_PARTIES}..${MAX_PARTIES}, got ${n}`);
  if (!Number.isInteger(t) || t < MIN_PARTIES || t > n)
    throw new UsageError(`threshold must be in 2..${n}, got ${t}`);
}

function keygenPartyWithFaults(opts: EcdsaKeygenPartyOptions, faults?: DkgFaults): Party<KeyShare> {
  const { session, index, threshold, parties, rng } = opts;
  checkKeygenShape(threshold, parties);
  checkSession(session);
  if (!Number.isInteger(index) || index < 1 || index > parties)
    throw new UsageError(`index must be in 1..${parties}, got ${index}`);
  return new DklsKeygenParty({ session, index, threshold, parties, rng, faults });
}

/** This node's party in key generation (ePrint 2023/602 Prot. 9.1 with the DKLs23 pairwise setup). */
export function ecdsaKeygenParty(opts: EcdsaKeygenPartyOptions): Party<KeyShare> {
  return keygenPartyWithFaults(opts);
}

/** One party per index 1..n; each returns its KeyShare. */
export function ecdsaKeygenParties(opts: EcdsaKeygenOptions): Party<KeyShare>[] {
  return keygenPartiesWithFaults(opts, new Map());
}

function keygenPartiesWithFaults(
  opts: EcdsaKeygenOptions,
  faults: ReadonlyMap<number, DkgFaults>,
): Party<KeyShare>[] {
  checkKeygenShape(opts.threshold, opts.parties);
  return Array.from({ length: opts.parties }, (_, k) =>
    keygenPartyWithFaults({ ...opts, index: k + 1 }, faults.get(k + 1)),
  );
}

function signingSet(shares: readonly KeyShare[]): number[] {
  if (shares.length === 0) throw new UsageError('no shares given');
  const keyId = bytesToHex(shares[0]!.keyId);
  for (const s of shares)
    if (bytesToHex(s.keyId) !== keyId) throw new UsageError('shares belong to different keys');
  const indices = shares.map((s) => s.index);
  if (new Set(indices).size !== indices.length) throw new UsageError('the same party index appears twice');
  return indices;
}

function signPartyWithFaults(opts: EcdsaSignPartyOptions, faults?: SignFaults): Party<Uint8Array> {
  checkSession(opts.session);
  return new SignParty(
    signContext(opts.session, opts.share, opts.signers, opts.path),
    opts.message,
    opts.rng,
    faults,
  );
}

/** This node's party in signing (DKLs23 Protocol 3.6); returns the 65-byte r‖s‖recovery signature (low-s). */
export function ecdsaSignParty(opts: EcdsaSignPartyOptions): Party<Uint8Array> {
  return signPartyWithFaults(opts);
}

/** One party per share; each returns the 65-byte r‖s‖recovery signature (low-s). */
export function ecdsaSignParties(opts: EcdsaSignOptions): Party<Uint8Array>[] {
  return signPartiesWithFaults(opts, new Map());
}

function signPartiesWithFaults(
  opts: EcdsaSignOptions,
  faults: ReadonlyMap<number, SignFaults>,
): Party<Uint8Array>[] {
  const signers = signingSet(opts.shares);
  return opts.shares.map((share) =>
    signPartyWithFaults(
      { session: opts.session, share, signers, message: opts.message, path: opts.path, rng: opts.rng },
      faults.get(share.index),
    ),
  );
}

/** This node's party in the message-independent rounds 1–2 of Protocol 3.6; returns its Presignature. */
export function ecdsaPresignParty(opts: EcdsaPresignPartyOptions): Party<Presignature> {
  checkSession(opts.session);
  return new PresignParty(signContext(opts.session, opts.share, opts.signers, opts.path), opts.rng);
}

/** Message-independent rounds 1–2 of Protocol 3.6; each party returns its Presignature. */
export function ecdsaPresignParties(opts: EcdsaPresignOptions): Party<Presignature>[] {
  const signers = signingSet(opts.shares);
  return opts.shares.map((share) =>
    ecdsaPresignParty({ session: opts.session, share, signers, path: opts.path, rng: opts.rng }),
  );
}

/** This node's party in the one online round; consumes its presignature (a second use throws ProtocolAbort). */
export function ecdsaFinishPresignedParty(opts: EcdsaFinishPresignedPartyOptions): Party<Uint8Array> {
  return new FinishPresignedParty(opts.presignature, opts.message, opts.path ?? 'm');
}

/** The one online round; consumes each presignature (a second use throws ProtocolAbort). */
export function ecdsaFinishPresignedParties(opts: EcdsaFinishPresignedOptions): Party<Uint8Array>[] {
  if (new Set(opts.presignatures.map((p) => p.index)).size !== opts.presignatures.length)
    throw new UsageError('the same party index appears twice');
  return opts.presignatures.map((presignature) =>
    ecdsaFinishPresignedParty({ presignature, message: opts.message, path: opts.path }),
  );
}

function refreshPartyWithFaults(opts: EcdsaRefreshPartyOptions, faults?: DkgFaults): Party<KeyShare> {
  checkSession(opts.session);
  const s = opts.share;
  return new DklsKeygenParty({
    session: opts.session,
    index: s.index,
    threshold: s.threshold,
    parties: s.parties,
    rng: opts.rng,
    refresh: loadShare(s),
    faults,
  });
}

/**
 * This node's party in refresh: every one of the n share holders runs one; returns a new share
 * and pairwise setup for the same public key and chain code.
 */
export function ecdsaRefreshParty(opts: EcdsaRefreshPartyOptions): Party<KeyShare> {
  return refreshPartyWithFaults(opts);
}

/** Refresh: all n shares; new shares and pairwise setup for the same key and chain code. */
export function ecdsaRefreshParties(opts: EcdsaRefreshOptions): Party<KeyShare>[] {
  return refreshPartiesWithFaults(opts, new Map());
}

function refreshPartiesWithFaults(
  opts: EcdsaRefreshOptions,
  faults: ReadonlyMap<number, DkgFaults>,
): Party<KeyShare>[] {
  const indices = signingSet(opts.shares);
  const first = opts.shares[0]!;
  if (indices.length !== first.parties) throw new UsageError(`refresh needs all ${first.parties} shares`);
  return opts.shares.map((share) =>
    refreshPartyWithFaults({ session: opts.session, share, rng: opts.rng }, faults.get(share.index)),
  );
}

/** Test seam (scure-bip32 style): malicious-party behaviour for the security tests only. */
export const __TESTS = {
  signPartiesWithFaults,
  keygenPartiesWithFaults,
  refreshPartiesWithFaults,
  clearBans,
};
