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
  type BenchSettings,
  fact,
  measurePhases,
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
    'simulateSign({ shares, message: digest }): the full three-round signing, every message through the wire codec. The t key shares are loaded with KeyShare.fromBytes before each run, timed apart as shareLoad.',
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

async function cofferCase(t: number, n: number, settings: BenchSettings, size: string) {
  let shares: CofferShare[] | undefined;
  const dkg = await measurePhases(
    `coffer ecdsa DKG ${size}`,
    settings,
    async (): Promise<RunResult> => {
      const sim = await loadSimulator();
      const stats: CofferStats = { messages: 0, bytes: 0 };
      const [out, ms] = await timed(() =>
        sim.simulateKeygen({ scheme: 'ecdsa-secp256k1', threshold: t, parties: n, stats }),
      );
      if (out.length !== n) throw new Error(`simulateKeygen returned ${out.length} shares, expected ${n}`);
      shares = out;
      const facts: Record<string, number> = { keyShareBytes: out[0]!.toBytes().length };
      if (stats.messages > 0)
        Object.assign(facts, { bytesPerKeygen: stats.bytes, messagesPerKeygen: stats.messages });
      return { phases: { total: ms }, facts };
    },
    { warmup: false },
  );
  const signers = shares?.slice(0, t);
  const stored = signers?.map((s) => s.toBytes());
  const noShares: Failure = { error: isFailure(dkg) ? `no key: ${dkg.error}` : 'no key' };
  const sign: Measured<PhaseTimings> = stored
    ? await measurePhases(`coffer ecdsa sign ${size}`, settings, async () => {
        const sim = await loadSimulator();
        const fromBytes = await loadKeyShareParser();
        // Like the peers, each run signs with key shares freshly loaded from their bytes (timed apart).
        const [loaded, loadMs] = await timed(() => stored.map((b) => fromBytes(b)));
        const msg = digest();
        const stats: CofferStats = { messages: 0, bytes: 0 };
        const [sig, ms] = await timed(() => sim.simulateSign({ shares: loaded, message: msg, stats }));
        checkEcdsa(sig, msg, loaded[0]!.publicKey, 'coffer simulateSign');
        const facts: Record<string, number> = {};
        if (stats.messages > 0)
          Object.assign(facts, { bytesPerSign: stats.bytes, messagesPerSign: stats.messages });
        return { phases: { total: ms, shareLoad: loadMs }, facts };
      })
    : noShares;
  const split: Measured<PhaseTimings> = stored
    ? await measurePhases(`coffer ecdsa presign+online ${size}`, settings, async () => {
        const api = await loadPresignApi();
        const fromBytes = await loadKeyShareParser();
        const loaded = stored.map((b) => fromBytes(b));
        const presign = api.simulatePresign as (o: unknown) => Promise<unknown>;
        const finish = api.simulateFinishPresigned as (o: unknown) => Promise<Uint8Array>;
        const msg = digest();
        const preStats: CofferStats = { messages: 0, bytes: 0 };
        const onlineStats: CofferStats = { messages: 0, bytes: 0 };
        const [pre, presignMs] = await timed(() => presign({ shares: loaded, stats: preStats }));
        const [sig, onlineMs] = await timed(() =>
          finish({ presignatures: pre, message: msg, stats: onlineStats }),
        );
        checkEcdsa(sig, msg, loaded[0]!.publicKey, 'coffer simulateFinishPresigned');
        const facts: Record<string, number> = {};
        if (preStats.messages > 0 || onlineStats.messages > 0)
          Object.assign(facts, { bytesPresign: preStats.bytes, bytesOnline: onlineStats.bytes });
        return { phases: { total: presignMs + onlineMs, presign: presignMs, online: onlineMs }, facts };
      })
    : noShares;
  return { dkg, sign, split };
}

async function silenceCase(t: number, n: number, settings: BenchSettings, size: string) {
  let key: SilenceKeygen | undefined;
  const dkg = await measurePhases(
    `silence DKG ${size}`,
    settings,
    async () => {
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
    { warmup: false },
  );
  const k = key;
  const sign: Measured<PhaseTimings> = k
    ? await measurePhases(`silence sign ${size}`, settings, async () => {
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
      })
    : { error: isFailure(dkg) ? `no key: ${dkg.error}` : 'no key' };
  return { dkg, sign };
}

async function carbonCase(t: number, n: number, settings: BenchSettings, size: string) {
  let key: CarbonKeygen | undefined;
  const dkg = await measurePhases(
    `0xcarbon DKG ${size}`,
    settings,
    async () => {
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
    { warmup: false },
  );
  const k = key;
  const sign: Measured<PhaseTimings> = k
    ? await measurePhases(`0xcarbon sign ${size}`, settings, async () => {
        const r = await carbonSign(k.parties, t, digest());
        return {
          phases: { total: r.presignMs + r.onlineMs, presign: r.presignMs, online: r.onlineMs },
          facts: {
            bytesPerSignJson: r.jsonBytes,
            bytesPerSignCompact: r.compactBytes,
            messagesPerSign: r.messages,
          },
        };
      })
    : { error: isFailure(dkg) ? `no key: ${dkg.error}` : 'no key' };
  return { dkg, sign };
}

export async function runEcdsa(settings: BenchSettings): Promise<EcdsaSection> {
  const sizes: Record<string, EcdsaCase> = {};
  const ratios: Record<string, RatioRecord> = {};
  for (const { t, n } of ECDSA_SIZES) {
    const size = `${t}of${n}`;
    const silence = await silenceCase(t, n, settings, size);
    const carbon = await carbonCase(t, n, settings, size);
    const coffer = await cofferCase(t, n, settings, size);
    sizes[size] = {
      coffer: entry({ dkg: coffer.dkg, signTotal: coffer.sign, presignOnline: coffer.split }),
      silence: entry({ dkg: silence.dkg, signTotal: silence.sign }),
      carbon: entry({ dkg: carbon.dkg, signTotal: carbon.sign }),
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
    r(
      'signTotal',
      medianOf(phase(coffer.sign, 'total')),
      medianOf(phase(silence.sign, 'total')),
      0.5,
      'medianMs',
    );
    r(
      'online',
      medianOf(phase(coffer.split, 'online')),
      medianOf(phase(silence.sign, 'online')),
      0.5,
      'medianMs',
    );
    r('dkg', medianOf(phase(coffer.dkg, 'total')), medianOf(phase(silence.dkg, 'total')), 0.75, 'medianMs');
    r('bytesPerSign', fact(coffer.sign, 'bytesPerSign'), fact(silence.sign, 'bytesPerSign'), 0.5, 'bytes');
    r('keyShare', fact(coffer.dkg, 'keyShareBytes'), fact(silence.dkg, 'keyShareBytes'), 0.25, 'bytes');
  }
  return { includes: ECDSA_INCLUDES, sizes, ratios };
}
