// In-process simulation of the DKLs23 protocols the generic simulator does not cover: presigning,
// finishing a presignature, and refresh. Every message goes through the wire codec and the tamper
// hook (simulation/network.ts), exactly as between nodes.
import { bytesToHex } from '@noble/hashes/utils.js';
import { ProtocolAbort } from '../errors.ts';
import type { KeyShare } from '../keyshare.ts';
import { type Rng, systemRng } from '../rng.ts';
import { type NetworkStats, runParties, type Tamper } from '../simulation/network.ts';
import { ecdsaFinishPresignedParties, ecdsaPresignParties, ecdsaRefreshParties } from './index.ts';
import type { Presignature } from './presign.ts';

function freshSession(rng: Rng, kind: string): string {
  return `${kind}-${bytesToHex(rng(16))}`;
}

/** Runs rounds 1–2 of DKLs23 signing; returns one Presignature per share (same `id` everywhere). */
export function simulatePresign(opts: {
  shares: readonly KeyShare[];
  path?: string;
  rng?: Rng;
  tamper?: Tamper;
  stats?: NetworkStats;
  session?: string;
}): Presignature[] {
  const rng = opts.rng ?? systemRng;
  const parties = ecdsaPresignParties({
    session: opts.session ?? freshSession(rng, 'presign'),
    shares: opts.shares,
    path: opts.path,
    rng,
  });
  return runParties(parties, { tamper: opts.tamper, stats: opts.stats });
}

/** The one online round: consumes the presignatures and returns the 65-byte r‖s‖recovery signature. */
export function simulateFinishPresigned(opts: {
  presignatures: readonly Presignature[];
  message: Uint8Array;
  path?: string;
  tamper?: Tamper;
  stats?: NetworkStats;
}): Uint8Array {
  const results = runParties(ecdsaFinishPresignedParties(opts), { tamper: opts.tamper, stats: opts.stats });
  const first = bytesToHex(results[0]!);
  if (results.some((r) => bytesToHex(r) !== first))
    throw new ProtocolAbort('inconsistent-result', [], 'parties produced different signatures');
  return results[0]!;
}

/** Refreshes all n shares: same public key and chain code, new shares and pairwise setup. */
export function simulateRefresh(opts: {
  shares: readonly KeyShare[];
  rng?: Rng;
  tamper?: Tamper;
  stats?: NetworkStats;
  session?: string;
}): KeyShare[] {
  const rng = opts.rng ?? systemRng;
  const parties = ecdsaRefreshParties({
    session: opts.session ?? freshSession(rng, 'refresh'),
    shares: opts.shares,
    rng,
  });
  return runParties(parties, { tamper: opts.tamper, stats: opts.stats });
}
