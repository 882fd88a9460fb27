// DKLs23 threshold ECDSA benchmarks (issue 3): Coffer against Silence Labs' and 0xCarbon's WASM
// builds, all parties in this process, same t and n, the first t parties sign a fresh random
// 32-byte digest each run, every signature verified with noble (outside the timed region).
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  type CofferShare,
  type CofferStats,
  loadKeyShareParser,
  loadPresignApi,
  loadSimulator,
} from './coffer.ts';
import { type CarbonKeygen, carbonKeygen, carbonShareSize, carbonSign } from './peers/carbon.ts';
import { type SilenceKeygen, silenceKeygen, silenceSign } from './peers/silence.ts';
import { type Failure, isFailure, type Measured, medianOf, type RatioRecord, ratioRecord } from './stats.ts';
import {
  type BenchCase,
  type BenchSettings,
  fact,
  measureGroup,
  type PhaseTimings,
  phase,
  type RunResult,
  timed,
} from './timing.ts';

export const ECDSA_SIZES = [
  { t: 2, n: 3 },
  { t: 3, n: 5 },
] as const;

export const ECDSA_INCLUDES = {
  common:
    'All parties in one process, messages passed in memory; t-of-n key generation by all n parties; signing by the first t parties on a random 32-byte digest; every signature checked with noble secp256k1.verify outside the timed region. DKG figures have no warm-up run (each takes seconds); signing figures have one untimed warm-up.',
  coffer_dkg:
    'simulateKeygen({ scheme: "ecdsa-secp256k1", threshold: t, parties: n }): DKLs23 DKG with pairwise base OT + OT extension setup, every message through the wire codec.',
  coffer_signTotal:
    'simulateSign({ shares, message: digest }): the full three-round signing, every message through the wire codec. The same t KeyShare objects sign every run, as in a running signer node (Coffer caches parsed share material per KeyShare). shareLoad = KeyShare.fromBytes of the t shares, timed apart for information, not part of signTotal.',
  coffer_presign_online:
    'presign = simulatePresign({ shares }) (the message-independent rounds 1-2); online = simulateFinishPresigned({ presignatures, message }) (one round); presignOnline = their sum in the same run.',
  silence_dkg:
    'KeygenSession for each party, createFirstMessage, handleMessages ×3, chain-code commitments, keyshare() (README flow).',
  silence_sign:
    'shareLoad = Keyshare.fromBytes for the t shares (needed before every signing: a SignSession consumes its Keyshare), timed apart; presign = new SignSession(keyshare, "m") + createFirstMessage + handleMessages ×2 up to the presignature; online = lastMessage(digest) + combine; signTotal = presign + online of the same run.',
  carbon_dkg:
    'phase1..phase4 bindings for every party with the caller routing transmit/broadcast values between phases.',
  carbon_sign:
    'presign = sign_phase1 + sign_phase2 (two P2P rounds); online = sign_phase3 (takes the digest; also finishes the multiplication and runs the consistency checks) + broadcast + sign_phase4; signTotal = presign + online.',
  bytes:
    'bytesPerSign / bytesPerKeygen: bytes of all messages delivered in one run, a broadcast counted once per recipient. Coffer: encoded wire messages (with envelope: session, round, from, to). Silence: Message.payload lengths (binary; from/to travel outside the payload) plus the 32-byte chain-code commitments. 0xCarbon has no binary codec: *Json is the JSON its SDK sends, *Compact the bytes of the field data alone (lower bound of any encoding).',
  keyShareBytes:
    "Party 1's serialized key share: Coffer KeyShare.toBytes(); Silence Keyshare.toBytes(); 0xCarbon JSON of its Party object (and the compact estimate).",
};

type Entry = Record<string, unknown> | Failure;

export type EcdsaCase = { coffer: Entry; silence: Entry; carbon: Entry };

export type EcdsaSection = {
  includes: typeof ECDSA_INCLUDES;
  sizes: Record<string, EcdsaCase>;
  ratios: Record<string, RatioRecord>;
};

function digest(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

function checkEcdsa(sig: Uint8Array, msg: Uint8Array, publicKey: Uint8Array, who: string): void {
  if (sig.length !== 65)
    throw new Error(`${who}: expected a 65-byte r‖s‖v signature, got ${sig.length} bytes`);
  if (!secp256k1.verify(sig.subarray(0, 64), msg, publicKey, { prehash: false }))
    throw new Error(`${who}: signature does not verify`);
}

/** Merges a measured result's phases and facts into one flat entry. */
function entry(
  parts: Record<string, Measured<PhaseTimings>>,
  extra: Record<string, number | Failure> = {},
): Entry {
  const out: Record<string, unknown> = {};
  const failures: string[] = [];
  for (const [name, result] of Object.entries(parts)) {
    if (isFailure(result)) {
      out[name] = result;
      failures.push(name);
      continue;
    }
    for (const [phaseName, timing] of Object.entries(result.phases))
      out[phaseName === 'total' ? name : phaseName] = timing;
    Object.assign(out, result.facts);
  }
  Object.assign(out, extra);
  if (failures.length === Object.keys(parts).length) {
    const first = parts[failures[0]!] as Failure;
    return { error: first.error };
  }
  return out;
}

/** A run that needs the key made by the DKG case; fails with the DKG's error when there is none. */
function needsKey<K>(key: () => K | undefined, dkg: () => Measured<PhaseTimings> | undefined) {
  return (): K => {
    const k = key();
    if (k !== undefined) return k;
    const result = dkg();
    throw new Error(result && isFailure(result) ? `no key: ${result.error}` : 'no key');
  };
}

function cofferCases(t: number, n: number, size: string) {
  let held: { shares: CofferShare[]; bytes: Uint8Array[] } | undefined;
  let dkgResult: Measured<PhaseTimings> | undefined;
  const key = needsKey(
    () => held,
    () => dkgResult,
  );
  const dkg: BenchCase = {
    label: `coffer ecdsa DKG ${size}`,
    run: async (): Promise<RunResult> => {
      const sim = await loadSimulator();
      const stats: CofferStats = { messages: 0, bytes: 0 };
      const [out, ms] = await timed(() =>
        sim.simulateKeygen({ scheme: 'ecdsa-secp256k1', threshold: t, parties: n, stats }),
      );
      if (out.length !== n) throw new Error(`simulateKeygen returned ${out.length} shares, expected ${n}`);
      const shares = out.slice(0, t);
      held = { shares, bytes: shares.map((s) => s.toBytes()) };
      const facts: Record<string, number> = { keyShareBytes: out[0]!.toBytes().length };
      if (stats.messages > 0)
        Object.assign(facts, { bytesPerKeygen: stats.bytes, messagesPerKeygen: stats.messages });
      return { phases: { total: ms }, facts };
    },
  };
  const sign: BenchCase = {
    label: `coffer ecdsa sign ${size}`,
    run: async () => {
      const sim = await loadSimulator();
      const fromBytes = await loadKeyShareParser();
      const { shares, bytes } = key();
      // Loading shares from bytes is timed for information only; signing uses the held objects.
      const [, loadMs] = await timed(() => bytes.map((b) => fromBytes(b)));
      const msg = digest();
      const stats: CofferStats = { messages: 0, bytes: 0 };
      const [sig, ms] = await timed(() => sim.simulateSign({ shares, message: msg, stats }));
      checkEcdsa(sig, msg, shares[0]!.publicKey, 'coffer simulateSign');
      const facts: Record<string, number> = {};
      if (stats.messages > 0)
        Object.assign(facts, { bytesPerSign: stats.bytes, messagesPerSign: stats.messages });
      return { phases: { total: ms, shareLoad: loadMs }, facts };
    },
  };
  const split: BenchCase = {
    label: `coffer ecdsa presign+online ${size}`,
    run: async () => {
      const api = await loadPresignApi();
      const { shares } = key();
      const presign = api.simulatePresign as (o: unknown) => unknown;
      const finish = api.simulateFinishPresigned as (o: unknown) => Uint8Array | Promise<Uint8Array>;
      const msg = digest();
      const preStats: CofferStats = { messages: 0, bytes: 0 };
      const onlineStats: CofferStats = { messages: 0, bytes: 0 };
      const [pre, presignMs] = await timed(() => presign({ shares, stats: preStats }));
      const [sig, onlineMs] = await timed(() =>
        finish({ presignatures: pre, message: msg, stats: onlineStats }),
      );
      checkEcdsa(sig, msg, shares[0]!.publicKey, 'coffer simulateFinishPresigned');
      const facts: Record<string, number> = {};
      if (preStats.messages > 0 || onlineStats.messages > 0)
        Object.assign(facts, { bytesPresign: preStats.bytes, bytesOnline: onlineStats.bytes });
      return { phases: { total: presignMs + onlineMs, presign: presignMs, online: onlineMs }, facts };
    },
  };
  return { dkg, sign, split, setDkgResult: (r: Measured<PhaseTimings>) => (dkgResult = r) };
}

function silenceCases(t: number, n: number, size: string) {
  let key: SilenceKeygen | undefined;
  let dkgResult: Measured<PhaseTimings> | undefined;
  const need = needsKey(
    () => key,
    () => dkgResult,
  );
  const dkg: BenchCase = {
    label: `silence DKG ${size}`,
    run: async () => {
      key = await silenceKeygen(t, n);
      return {
        phases: { total: key.ms },
        facts: {
          keyShareBytes: key.shares[0]!.length,
          bytesPerKeygen: key.bytes,
          messagesPerKeygen: key.messages,
        },
      };
    },
  };
  const sign: BenchCase = {
    label: `silence sign ${size}`,
    run: async () => {
      const k = need();
      const r = await silenceSign(k.shares, t, digest(), k.publicKey);
      return {
        phases: {
          total: r.presignMs + r.onlineMs,
          presign: r.presignMs,
          online: r.onlineMs,
          shareLoad: r.loadMs,
        },
        facts: { bytesPerSign: r.bytes, messagesPerSign: r.messages },
      };
    },
  };
  return { dkg, sign, setDkgResult: (r: Measured<PhaseTimings>) => (dkgResult = r) };
}

function carbonCases(t: number, n: number, size: string) {
  let key: CarbonKeygen | undefined;
  let dkgResult: Measured<PhaseTimings> | undefined;
  const need = needsKey(
    () => key,
    () => dkgResult,
  );
  const dkg: BenchCase = {
    label: `0xcarbon DKG ${size}`,
    run: async () => {
      key = await carbonKeygen(t, n);
      const share = carbonShareSize(key.parties[0]!);
      return {
        phases: { total: key.ms },
        facts: {
          keyShareBytesJson: share.json,
          keyShareBytesCompact: share.compact,
          bytesPerKeygenJson: key.jsonBytes,
          bytesPerKeygenCompact: key.compactBytes,
          messagesPerKeygen: key.messages,
        },
      };
    },
  };
  const sign: BenchCase = {
    label: `0xcarbon sign ${size}`,
    run: async () => {
      const r = await carbonSign(need().parties, t, digest());
      return {
        phases: { total: r.presignMs + r.onlineMs, presign: r.presignMs, online: r.onlineMs },
        facts: {
          bytesPerSignJson: r.jsonBytes,
          bytesPerSignCompact: r.compactBytes,
          messagesPerSign: r.messages,
        },
      };
    },
  };
  return { dkg, sign, setDkgResult: (r: Measured<PhaseTimings>) => (dkgResult = r) };
}

export async function runEcdsa(settings: BenchSettings): Promise<EcdsaSection> {
  const sizes: Record<string, EcdsaCase> = {};
  const ratios: Record<string, RatioRecord> = {};
  for (const { t, n } of ECDSA_SIZES) {
    const size = `${t}of${n}`;
    const silence = silenceCases(t, n, size);
    const carbon = carbonCases(t, n, size);
    const coffer = cofferCases(t, n, size);
    // DKGs interleaved, no warm-up (each takes seconds); each keeps the key of its last run.
    const [sDkg, cbDkg, cfDkg] = await measureGroup(settings, [silence.dkg, carbon.dkg, coffer.dkg], {
      warmup: false,
    });
    silence.setDkgResult(sDkg!);
    carbon.setDkgResult(cbDkg!);
    coffer.setDkgResult(cfDkg!);
    // Signing interleaved, with a warm-up round.
    const [sSign, cbSign, cfSign, cfSplit] = await measureGroup(settings, [
      silence.sign,
      carbon.sign,
      coffer.sign,
      coffer.split,
    ]);
    sizes[size] = {
      coffer: entry({ dkg: cfDkg!, signTotal: cfSign!, presignOnline: cfSplit! }),
      silence: entry({ dkg: sDkg!, signTotal: sSign! }),
      carbon: entry({ dkg: cbDkg!, signTotal: cbSign! }),
    };
    const r = (
      name: string,
      num: number | Failure | undefined,
      den: number | Failure | undefined,
      target: number,
      unit: string,
    ) => {
      ratios[`coffer_ecdsa_${name}_${size} / silence_${name}_${size}`] = ratioRecord(num, den, target, unit);
    };
    r('signTotal', medianOf(phase(cfSign!, 'total')), medianOf(phase(sSign!, 'total')), 0.5, 'medianMs');
    r('online', medianOf(phase(cfSplit!, 'online')), medianOf(phase(sSign!, 'online')), 0.5, 'medianMs');
    r('dkg', medianOf(phase(cfDkg!, 'total')), medianOf(phase(sDkg!, 'total')), 0.75, 'medianMs');
    r('bytesPerSign', fact(cfSign!, 'bytesPerSign'), fact(sSign!, 'bytesPerSign'), 0.5, 'bytes');
    r('keyShare', fact(cfDkg!, 'keyShareBytes'), fact(sDkg!, 'keyShareBytes'), 0.25, 'bytes');
  }
  return { includes: ECDSA_INCLUDES, sizes, ratios };
}
