// @coffer/tss/simulator: runs every party of a protocol in one process, as separate state machines,
// pushing every message through the wire codec and an optional tamper hook. Used by tests, the demo
// and benchmarks; the signer node runs the same parties over the network.
import { bytesToHex } from '@noble/hashes/utils.js';
import { equalBytes } from './codec/bytes.ts';
import { deriveSecp256k1 } from './derivation.ts';
import { ecdsaKeygenParties, ecdsaSignParties } from './dkls23/index.ts';
import { ProtocolAbort, UsageError } from './errors.ts';
import { frostKeygenParties } from './frost/keygen.ts';
import { FrostSignParty } from './frost/sign.ts';
import { unsupportedEd25519Derivation } from './frost/suite.ts';
import type { KeyShare } from './keyshare.ts';
import { type Rng, seededRng, systemRng } from './rng.ts';
import { isSchemeId, type SchemeId } from './schemes.ts';
import { type NetworkStats, runParties, type Tamper } from './simulation/network.ts';

export { simulateFinishPresigned, simulatePresign, simulateRefresh } from './dkls23/simulate.ts';
export type { InFlight, NetworkStats, Tamper } from './simulation/network.ts';

export type SimulateKeygenOptions = {
  scheme: SchemeId;
  threshold: number;
  parties: number;
  tamper?: Tamper;
  /** Makes the run reproducible (tests, benchmarks); never use a seed for real keys. */
  seed?: Uint8Array | string;
  /** Filled with the number of messages and bytes exchanged. */
  stats?: NetworkStats;
};

export async function simulateKeygen(opts: SimulateKeygenOptions): Promise<KeyShare[]> {
  if (!isSchemeId(opts.scheme)) throw new UsageError(`scheme: unknown scheme ${String(opts.scheme)}`);
  const rngFor = partyRngs(opts.seed, 'keygen');
  const session = `keygen/${bytesToHex(rngFor(0)(16))}`;
  const base = { session, threshold: opts.threshold, parties: opts.parties };
  if (opts.scheme === 'ecdsa-secp256k1')
    return runParties(ecdsaKeygenParties({ ...base, rng: rngFor(1) }), {
      tamper: opts.tamper,
      stats: opts.stats,
    });
  return runParties(frostKeygenParties({ ...base, scheme: opts.scheme, rng: rngFor }), {
    tamper: opts.tamper,
    stats: opts.stats,
  });
}

export type SimulateSignOptions = {
  /** The signing subset: at least t shares of one key, any indices. */
  shares: readonly KeyShare[];
  /** ecdsa-secp256k1: the 32-byte digest; FROST schemes: the message itself. */
  message: Uint8Array;
  /** BIP32 non-hardened path such as "m/0/7" (secp256k1 schemes only). */
  path?: string;
  tamper?: Tamper;
  seed?: Uint8Array | string;
  stats?: NetworkStats;
};

/**
 * Signs with the given subset. Returns a 64-byte BIP340 signature (taproot), a 64-byte Ed25519
 * signature, or 65-byte r‖s‖recovery with low s (ecdsa).
 */
export async function simulateSign(opts: SimulateSignOptions): Promise<Uint8Array> {
  const shares = checkSigningSet(opts.shares);
  if (!(opts.message instanceof Uint8Array)) throw new UsageError('message: expected a Uint8Array');
  const first = shares[0]!;
  const rngFor = partyRngs(opts.seed, 'sign');
  const session = `sign/${bytesToHex(rngFor(0)(16))}`;
  const signers = shares.map((s) => s.index);
  let results: Uint8Array[];
  if (first.scheme === 'ecdsa-secp256k1') {
    if (opts.message.length !== 32) throw new UsageError('message: ecdsa-secp256k1 signs a 32-byte digest');
    const parties = ecdsaSignParties({
      session,
      shares,
      message: opts.message,
      path: opts.path,
      rng: rngFor(1),
    });
    results = runParties(parties, { tamper: opts.tamper, stats: opts.stats });
  } else {
    const parties = shares.map(
      (share) =>
        new FrostSignParty({
          session,
          share,
          signers,
          message: opts.message,
          path: opts.path,
          rng: rngFor(share.index),
        }),
    );
    results = runParties(parties, { tamper: opts.tamper, stats: opts.stats });
  }
  const signature = results[0]!;
  if (!results.every((r) => equalBytes(r, signature)))
    throw new ProtocolAbort('inconsistent-result', [], 'parties produced different signatures');
  return signature;
}

/** The public key a path derives to, in the chain's format (BIP32 CKDpub on the group key). */
export function derivePublicKey(share: KeyShare, path: string): Uint8Array {
  if (share.scheme === 'eddsa-ed25519') {
    if (path === 'm') return share.publicKey;
    throw unsupportedEd25519Derivation(path);
  }
  const child = deriveSecp256k1(share.groupPoint, share.chainCode, path).point;
  return share.scheme === 'schnorr-secp256k1-tr' ? child.slice(1) : child;
}

function checkSigningSet(shares: readonly KeyShare[]): readonly KeyShare[] {
  if (!Array.isArray(shares) || shares.length === 0) throw new UsageError('shares: need at least one share');
  const first = shares[0]!;
  const indices = new Set<number>();
  for (const s of shares) {
    if (s.scheme !== first.scheme) throw new UsageError('shares: mixed schemes');
    if (!equalBytes(s.keyId, first.keyId)) throw new UsageError('shares: belong to different keys');
    if (indices.has(s.index)) throw new UsageError(`shares: party ${s.index} appears twice`);
    indices.add(s.index);
  }
  if (shares.length < first.threshold)
    throw new UsageError(
      `shares: need at least ${first.threshold} of ${first.parties}, got ${shares.length}`,
    );
  return shares;
}

/** One RNG per party: independent streams from one seed, or the system RNG. */
function partyRngs(seed: Uint8Array | string | undefined, label: string): (index: number) => Rng {
  if (seed === undefined) return () => systemRng;
  const prefix = typeof seed === 'string' ? seed : bytesToHex(seed);
  return (index) => seededRng(`${prefix}/${label}/${index}`);
}
