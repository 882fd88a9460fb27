// FROST benchmarks (issue 2 §5): Coffer's simulator against the raw @noble/curves FROST calls it
// wraps and against @cmdcode/frost, all parties in one process, same t and n, same signer subset
// (the first t indices), a fresh 32-byte message per run.
import { randomBytes } from 'node:crypto';
import type { DKG_Round1, DKG_Round2, FROST, NonceCommitments } from '@noble/curves/abstract/frost.js';
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr, schnorr_FROST } from '@noble/curves/secp256k1.js';
import { type CofferShare, type CofferStats, loadSimulator } from './coffer.ts';
import { type Measured, medianOf, type RatioRecord, ratioRecord } from './stats.ts';
import {
  type BenchCase,
  type BenchSettings,
  measureGroup,
  type PhaseTimings,
  phase,
  type RunResult,
  timed,
} from './timing.ts';

export const FROST_SIZES = [
  { t: 2, n: 3 },
  { t: 3, n: 5 },
] as const;

type FrostScheme = 'schnorr-secp256k1-tr' | 'eddsa-ed25519';
const FROST_SCHEMES: readonly FrostScheme[] = ['schnorr-secp256k1-tr', 'eddsa-ed25519'];

const NOBLE: Record<FrostScheme, FROST> = {
  'schnorr-secp256k1-tr': schnorr_FROST,
  'eddsa-ed25519': ed25519_FROST,
};

const label = (t: number, n: number) => `${t}of${n}`;

export const FROST_INCLUDES = {
  coffer_keygen:
    'simulateKeygen({ scheme, threshold: t, parties: n }): all n parties as state machines, every message through the wire codec; session id from all contributions, commit-then-reveal, echo broadcast, noble DKG round1/2/3 inside, confirmation round, KeyShare construction and validation.',
  coffer_sign:
    "simulateSign({ shares: first t shares of one key per case, message: 32 random bytes }): all t signers as state machines, every message through the wire codec; Coffer's session layer (session id from all contributions, echo broadcast) around noble commit / signShare / aggregate, every signer aggregating (noble aggregate verifies the signature).",
  noble_keygen:
    "Raw noble FROST DKG, no session layer: every party DKG.round1; every party DKG.round2 on the others' round-1 packages; every party DKG.round3. Objects are passed in memory, no encoding.",
  noble_sign:
    'Raw noble FROST signing with trustedDealer shares (one key per case, dealing not timed), no session layer: every signer commit(); every signer signShare(); every signer aggregate() (which verifies the aggregate signature). Objects passed in memory.',
  noble_dealer_keygen: 'trustedDealer({ min: t, max: n }) alone (informational; not what Coffer does).',
  cmdcode_sign:
    '@cmdcode/frost with create_dealer_set shares (one key per case, dealing not timed): every signer create_commit_pkg; every signer get_group_signing_ctx + sign_msg; every signer combine_partial_sigs + verify_final_sig. Public nonces passed in memory.',
  shareBytes: 'Length of KeyShare.toBytes() for party 1.',
  bytesPerSign:
    'Bytes of encoded wire messages delivered during one signing (a broadcast counts once per recipient), from the simulator stats.',
};

async function cofferKeygen(scheme: FrostScheme, t: number, n: number): Promise<RunResult> {
  const sim = await loadSimulator();
  const stats: CofferStats = { messages: 0, bytes: 0 };
  const [shares, ms] = await timed(() => sim.simulateKeygen({ scheme, threshold: t, parties: n, stats }));
  const first = shares[0];
  if (!first || shares.length !== n)
    throw new Error(`simulateKeygen returned ${shares.length} shares, expected ${n}`);
  const facts: Record<string, number> = { shareBytes: first.toBytes().length };
  if (stats.messages > 0)
    Object.assign(facts, { bytesPerKeygen: stats.bytes, messagesPerKeygen: stats.messages });
  return { phases: { total: ms }, facts };
}

function verifyFrost(scheme: FrostScheme, sig: Uint8Array, msg: Uint8Array, publicKey: Uint8Array): void {
  const ok =
    scheme === 'eddsa-ed25519' ? ed25519.verify(sig, msg, publicKey) : schnorr.verify(sig, msg, publicKey);
  if (!ok) throw new Error(`${scheme}: signature does not verify`);
}

async function cofferSignRunner(
  scheme: FrostScheme,
  t: number,
  n: number,
): Promise<() => Promise<RunResult>> {
  const sim = await loadSimulator();
  const all = await sim.simulateKeygen({ scheme, threshold: t, parties: n });
  const shares: CofferShare[] = all.slice(0, t);
  return async () => {
    const message = new Uint8Array(randomBytes(32));
    const stats: CofferStats = { messages: 0, bytes: 0 };
    const [sig, ms] = await timed(() => sim.simulateSign({ shares, message, stats }));
    verifyFrost(scheme, sig, message, shares[0]!.publicKey);
    const facts: Record<string, number> = {};
    if (stats.messages > 0)
      Object.assign(facts, { bytesPerSign: stats.bytes, messagesPerSign: stats.messages });
    return { phases: { total: ms }, facts };
  };
}

function nobleDkg(frost: FROST, t: number, n: number): void {
  const signers = { min: t, max: n };
  const ids = Array.from({ length: n }, (_, i) => frost.Identifier.fromNumber(i + 1));
  const r1 = ids.map((id) => frost.DKG.round1(id, signers));
  const publics: DKG_Round1[] = r1.map((r) => r.public);
  const r2 = r1.map((r, i) =>
    frost.DKG.round2(
      r.secret,
      publics.filter((_, j) => j !== i),
    ),
  );
  ids.forEach((id, i) => {
    const received: DKG_Round2[] = r2.filter((_, j) => j !== i).map((out) => out[id]!);
    frost.DKG.round3(
      r1[i]!.secret,
      publics.filter((_, j) => j !== i),
      received,
    );
  });
}

function nobleSignRunner(scheme: FrostScheme, t: number, n: number): () => RunResult {
  const frost = NOBLE[scheme];
  const ids = Array.from({ length: n }, (_, i) => frost.Identifier.fromNumber(i + 1));
  // One key per case, many signatures, as for Coffer.
  const deal = frost.trustedDealer({ min: t, max: n }, ids);
  const signers = ids.slice(0, t).map((id) => deal.secretShares[id]!);
  return () => {
    const msg = new Uint8Array(randomBytes(32));
    let sig: Uint8Array | undefined;
    const [, ms] = timedSync(() => {
      const gen = signers.map((s) => frost.commit(s));
      const commitments: NonceCommitments[] = gen.map((g) => g.commitments);
      const shares: Record<string, Uint8Array> = {};
      signers.forEach((s, i) => {
        shares[s.identifier] = frost.signShare(s, deal.public, gen[i]!.nonces, commitments, msg);
      });
      for (let i = 0; i < signers.length; i++) sig = frost.aggregate(deal.public, commitments, msg, shares);
    });
    if (!sig || !frost.verify(sig, msg, deal.public.commitments[0]!))
      throw new Error('noble FROST: signature does not verify');
    return { phases: { total: ms } };
  };
}

async function cmdcodeSignRunner(t: number, n: number): Promise<() => RunResult> {
  const lib = await import('@cmdcode/frost/lib');
  // One key per case, many signatures, as for Coffer.
  const group = lib.create_dealer_set(t, n, [randomBytes(32).toString('hex')]);
  const shares = group.shares.slice(0, t);
  return () => {
    const message = randomBytes(32).toString('hex');
    let signature = '';
    const [, ms] = timedSync(() => {
      const commits = shares.map((s) => lib.create_commit_pkg(s));
      const pnonces = commits.map((c) => ({ idx: c.idx, hidden_pn: c.hidden_pn, binder_pn: c.binder_pn }));
      const psigs = shares.map((s, i) => {
        const ctx = lib.get_group_signing_ctx(group.group_pk, pnonces, message);
        return lib.sign_msg(ctx, s, commits[i]!);
      });
      for (let i = 0; i < shares.length; i++) {
        const ctx = lib.get_group_signing_ctx(group.group_pk, pnonces, message);
        signature = lib.combine_partial_sigs(ctx, psigs);
        if (!lib.verify_final_sig(ctx, message, signature))
          throw new Error('@cmdcode/frost: signature does not verify');
      }
    });
    // Independent check of the last run's signature under the x-only group key.
    const xonly = Buffer.from(group.group_pk, 'hex').subarray(-32);
    if (!schnorr.verify(Buffer.from(signature, 'hex'), Buffer.from(message, 'hex'), xonly))
      throw new Error('@cmdcode/frost: signature rejected by noble schnorr.verify');
    return { phases: { total: ms } };
  };
}

function timedSync<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const v = fn();
  return [v, performance.now() - t0];
}

type FrostCase = {
  coffer: { keygen: Measured<unknown>; sign: Measured<unknown> };
  noble: { keygen: Measured<unknown>; sign: Measured<unknown>; dealerKeygen: Measured<unknown> };
};

export type FrostSection = {
  includes: typeof FROST_INCLUDES;
  schemes: Record<FrostScheme, Record<string, FrostCase>>;
  cmdcode: Record<string, { sign: Measured<unknown> }>;
  ratios: Record<string, RatioRecord>;
};

function flatten(result: Measured<PhaseTimings>): Measured<unknown> {
  if ('error' in result) return result;
  return { ...result.phases.total, ...result.facts };
}

/** Builds a case's run function; if building throws, the case fails with that error when run. */
async function runner<T>(make: () => T | Promise<T>): Promise<T | (() => never)> {
  try {
    return await make();
  } catch (e) {
    return () => {
      throw e;
    };
  }
}

function timedCase(fn: () => void): () => RunResult {
  return () => {
    const [, ms] = timedSync(fn);
    return { phases: { total: ms } };
  };
}

export async function runFrost(settings: BenchSettings): Promise<FrostSection> {
  const schemes = {} as Record<FrostScheme, Record<string, FrostCase>>;
  const ratios: Record<string, RatioRecord> = {};
  const cmdcode: Record<string, { sign: Measured<unknown> }> = {};

  for (const scheme of FROST_SCHEMES) {
    schemes[scheme] = {};
    const frost = NOBLE[scheme];
    const short = scheme === 'eddsa-ed25519' ? 'ed25519' : 'taproot';
    for (const { t, n } of FROST_SIZES) {
      const size = label(t, n);
      // Key generation: Coffer and the raw noble DKG interleaved (trusted dealer for information).
      const [cKeygen, nKeygen, nDealer] = await measureGroup(settings, [
        { label: `coffer ${scheme} keygen ${size}`, run: () => cofferKeygen(scheme, t, n) },
        { label: `noble ${scheme} DKG ${size}`, run: timedCase(() => nobleDkg(frost, t, n)) },
        {
          label: `noble ${scheme} trustedDealer ${size}`,
          run: timedCase(() => frost.trustedDealer({ min: t, max: n })),
        },
      ]);
      // Signing: Coffer, raw noble and (Taproot) @cmdcode/frost interleaved.
      const signCases: BenchCase[] = [
        { label: `coffer ${scheme} sign ${size}`, run: await runner(() => cofferSignRunner(scheme, t, n)) },
        { label: `noble ${scheme} sign ${size}`, run: nobleSignRunner(scheme, t, n) },
      ];
      if (scheme === 'schnorr-secp256k1-tr')
        signCases.push({ label: `cmdcode sign ${size}`, run: await runner(() => cmdcodeSignRunner(t, n)) });
      const [cSign, nSign, cmdSign] = await measureGroup(settings, signCases);
      schemes[scheme][size] = {
        coffer: { keygen: flatten(cKeygen!), sign: flatten(cSign!) },
        noble: { keygen: flatten(nKeygen!), sign: flatten(nSign!), dealerKeygen: flatten(nDealer!) },
      };
      ratios[`coffer_${short}_sign_${size} / noble_${short}_sign_${size}`] = ratioRecord(
        medianOf(phase(cSign!, 'total')),
        medianOf(phase(nSign!, 'total')),
        1.15,
        'medianMs',
      );
      ratios[`coffer_${short}_keygen_${size} / noble_${short}_dkg_${size}`] = ratioRecord(
        medianOf(phase(cKeygen!, 'total')),
        medianOf(phase(nKeygen!, 'total')),
        1.15,
        'medianMs',
      );
      if (cmdSign) {
        cmdcode[size] = { sign: flatten(cmdSign) };
        ratios[`coffer_taproot_sign_${size} / cmdcode_sign_${size}`] = ratioRecord(
          medianOf(phase(cSign!, 'total')),
          medianOf(phase(cmdSign, 'total')),
          0.75,
          'medianMs',
        );
      }
    }
  }
  return { includes: FROST_INCLUDES, schemes, cmdcode, ratios };
}
