// DKLs23 threshold ECDSA (Doerner–Kondi–Lee–shelat, "Threshold ECDSA in Three Rounds", ePrint
// 2023/765) on secp256k1: party factories for key generation, signing, presigning and refresh, and
// the helpers a node needs around them (derivation, discarded pairwise setups).
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
export type EcdsaSignOptions = {
  session: string;
  /** The signing subset: any t shares of one key, indices not necessarily contiguous. */
  shares: readonly KeyShare[];
  /** 32-byte message digest. */
  message: Uint8Array;
  path?: string;
  rng: Rng;
};
export type EcdsaPresignOptions = Omit<EcdsaSignOptions, 'message'>;
export type EcdsaRefreshOptions = { session: string; shares: readonly KeyShare[]; rng: Rng };

/** One party per index 1..n; each returns its KeyShare. */
export function ecdsaKeygenParties(opts: EcdsaKeygenOptions): Party<KeyShare>[] {
  const { threshold: t, parties: n } = opts;
  if (!Number.isInteger(n) || n < MIN_PARTIES || n > MAX_PARTIES)
    throw new UsageError(`parties must be in ${MIN_PARTIES}..${MAX_PARTIES}, got ${n}`);
  if (!Number.isInteger(t) || t < MIN_PARTIES || t > n)
    throw new UsageError(`threshold must be in 2..${n}, got ${t}`);
  if (typeof opts.session !== 'string' || opts.session.length === 0)
    throw new UsageError('session must be non-empty');
  return Array.from(
    { length: n },
    (_, k) =>
      new DklsKeygenParty({ session: opts.session, index: k + 1, threshold: t, parties: n, rng: opts.rng }),
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

/** One party per share; each returns the 65-byte r‖s‖recovery signature (low-s). */
export function ecdsaSignParties(opts: EcdsaSignOptions): Party<Uint8Array>[] {
  return signPartiesWithFaults(opts, new Map());
}

function signPartiesWithFaults(
  opts: EcdsaSignOptions,
  faults: ReadonlyMap<number, SignFaults>,
): Party<Uint8Array>[] {
  const signers = signingSet(opts.shares);
  return opts.shares.map(
    (s) =>
      new SignParty(
        signContext(opts.session, s, signers, opts.path),
        opts.message,
        opts.rng,
        faults.get(s.index),
      ),
  );
}

/** Message-independent rounds 1–2 of Protocol 3.6; each party returns its Presignature. */
export function ecdsaPresignParties(opts: EcdsaPresignOptions): Party<Presignature>[] {
  const signers = signingSet(opts.shares);
  return opts.shares.map((s) => new PresignParty(signContext(opts.session, s, signers, opts.path), opts.rng));
}

/** The one online round; consumes each presignature (a second use throws ProtocolAbort). */
export function ecdsaFinishPresignedParties(opts: {
  presignatures: readonly Presignature[];
  message: Uint8Array;
  path?: string;
}): Party<Uint8Array>[] {
  if (new Set(opts.presignatures.map((p) => p.index)).size !== opts.presignatures.length)
    throw new UsageError('the same party index appears twice');
  return opts.presignatures.map((p) => new FinishPresignedParty(p, opts.message, opts.path ?? 'm'));
}

/** Refresh: all n shares; new shares and pairwise setup for the same key and chain code. */
export function ecdsaRefreshParties(opts: EcdsaRefreshOptions): Party<KeyShare>[] {
  return refreshPartiesWithFaults(opts, new Map());
}

type DkgFaults = { shareOffset?: bigint };

function keygenPartiesWithFaults(
  opts: EcdsaKeygenOptions,
  faults: ReadonlyMap<number, DkgFaults>,
): Party<KeyShare>[] {
  return ecdsaKeygenParties(opts).map((p) =>
    faults.has(p.index)
      ? new DklsKeygenParty({
          session: opts.session,
          index: p.index,
          threshold: opts.threshold,
          parties: opts.parties,
          rng: opts.rng,
          faults: faults.get(p.index),
        })
      : p,
  );
}

function refreshPartiesWithFaults(
  opts: EcdsaRefreshOptions,
  faults: ReadonlyMap<number, DkgFaults>,
): Party<KeyShare>[] {
  const indices = signingSet(opts.shares);
  const first = opts.shares[0]!;
  if (indices.length !== first.parties) throw new UsageError(`refresh needs all ${first.parties} shares`);
  return opts.shares.map(
    (s) =>
      new DklsKeygenParty({
        session: opts.session,
        index: s.index,
        threshold: s.threshold,
        parties: s.parties,
        rng: opts.rng,
        refresh: loadShare(s),
        faults: faults.get(s.index),
      }),
  );
}

/** Test seam (scure-bip32 style): malicious-party behaviour for the security tests only. */
export const __TESTS = {
  signPartiesWithFaults,
  keygenPartiesWithFaults,
  refreshPartiesWithFaults,
  clearBans,
};
