// @0xcarbon/dkls23-wasm 1.0.2 (0xCarbon's DKLs23 in Rust/WASM). Its ESM glue sits in a `.js` file
// of a package without "type": "module", so Node would read it as CommonJS: we copy the glue to a
// temporary `.mjs`, import that, and instantiate the package's own .wasm with `initSync`.
//
// The package exposes the protocol as phase functions over serde objects (DKG phase1..4, signing
// sign_phase1..4); the caller routes the "transmit" (P2P) and "broadcast" values between phases.
// It has no binary codec: its own SDK sends these objects as JSON. We report both the JSON bytes
// and a compact estimate (the bytes of the data in the fields; see stats.compactBytes).
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as CarbonTypes from '@0xcarbon/dkls23-wasm';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { compactBytes, jsonBytes } from '../stats.ts';
import { timed } from '../timing.ts';

type Carbon = typeof CarbonTypes;
// The bindings are typed `any`; these are the shapes observed at run time (serde_wasm_bindgen).
type Transmit = { parties: { sender: number; receiver: number } };
type Party = { pk: string } & Record<string, unknown>;

let lib: Promise<Carbon> | undefined;

function load(): Promise<Carbon> {
  lib ??= (async () => {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('@0xcarbon/dkls23-wasm/package.json'));
    const tmp = mkdtempSync(join(tmpdir(), 'coffer-bench-carbon-'));
    try {
      const glue = join(tmp, 'dkls23_wasm.mjs');
      copyFileSync(join(dir, 'dkls23_wasm.js'), glue);
      const mod = (await import(pathToFileURL(glue).href)) as Carbon;
      mod.initSync(readFileSync(join(dir, 'dkls23_wasm_bg.wasm')));
      return mod;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  })();
  return lib;
}

function unwrap<T>(value: unknown, what: string): T {
  if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Map)) {
    if ('Ok' in value) return value.Ok as T;
    if ('Err' in value) throw new Error(`0xCarbon ${what}: ${JSON.stringify(value.Err)}`);
  }
  return value as T;
}

function randomId(): number[] {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)));
}

class Wire {
  json = 0;
  compact = 0;
  messages = 0;
  send(value: unknown, copies = 1): void {
    this.json += jsonBytes(value) * copies;
    this.compact += compactBytes(value) * copies;
    this.messages += copies;
  }
  sendAll(values: readonly unknown[]): void {
    for (const v of values) this.send(v);
  }
}

const to = <T extends Transmit>(batches: readonly T[][], receiver: number): T[] =>
  batches.flatMap((b) => b.filter((m) => m.parties.receiver === receiver));

export type CarbonKeygen = {
  parties: Party[];
  ms: number;
  jsonBytes: number;
  compactBytes: number;
  messages: number;
};

export async function carbonKeygen(t: number, n: number): Promise<CarbonKeygen> {
  const m = await load();
  const sessionId = randomId();
  const idx = Array.from({ length: n }, (_, i) => i + 1);
  const data = (i: number) => ({
    parameters: { threshold: t, share_count: n },
    party_index: i,
    session_id: sessionId,
  });
  const wire = new Wire();
  const [parties, ms] = await timed(() => {
    // Phase 1: p_i(j) for every j; j-th goes to party j.
    const p1 = idx.map((i) => m.phase1_wasm_binding(data(i)) as string[]);
    for (const [k, i] of idx.entries()) for (const j of idx) if (j !== i) wire.send(p1[k]![j - 1]);
    // Phase 2: poly point, proof commitment (commitment broadcast now), zero-share commitments, chain-code commitment.
    const p2 = idx.map(
      (i) =>
        m.phase2_wasm_binding(
          data(i),
          idx.map((j) => p1[j - 1]![i - 1]),
        ) as unknown[],
    );
    for (const r of p2) {
      wire.send((r[1] as { commitment: unknown }).commitment, n - 1);
      wire.sendAll(r[3] as unknown[]);
      wire.send(r[5], n - 1);
    }
    // Phase 3: zero-share openings, multiplication (OT) setup, chain-code opening; proofs broadcast.
    const p3 = idx.map((i) => m.phase3_wasm_binding(data(i), p2[i - 1]![2], p2[i - 1]![4]) as unknown[]);
    for (const [k, r] of p3.entries()) {
      wire.sendAll(r[1] as unknown[]);
      wire.sendAll(r[3] as unknown[]);
      wire.send(r[4], n - 1);
      wire.send((p2[k]![1] as { proof: unknown }).proof, n - 1);
    }
    const proofs = idx.map((i) => p2[i - 1]![1]);
    const bip2 = new Map(idx.map((i) => [i, p2[i - 1]![5]]));
    const bip3 = new Map(idx.map((i) => [i, p3[i - 1]![4]]));
    const zero2 = p2.map((r) => r[3] as Transmit[]);
    const zero3 = p3.map((r) => r[1] as Transmit[]);
    const mul3 = p3.map((r) => r[3] as Transmit[]);
    return idx.map((i) =>
      unwrap<Party>(
        m.phase4_wasm_binding(
          data(i),
          p2[i - 1]![0],
          proofs,
          p3[i - 1]![0],
          to(zero2, i),
          to(zero3, i),
          p3[i - 1]![2],
          to(mul3, i),
          bip2,
          bip3,
        ),
        'DKG phase 4',
      ),
    );
  });
  const pk = parties[0]!.pk;
  if (!parties.every((p) => p.pk === pk)) throw new Error('0xCarbon DKG: parties disagree on the public key');
  return { parties, ms, jsonBytes: wire.json, compactBytes: wire.compact, messages: wire.messages };
}

export function carbonShareSize(party: Party): { json: number; compact: number } {
  return { json: jsonBytes(party), compact: compactBytes(party) };
}

export type CarbonSign = {
  presignMs: number;
  onlineMs: number;
  jsonBytes: number;
  compactBytes: number;
  messages: number;
};

/**
 * One signature by the first t parties. presign = sign_phase1 + sign_phase2 (two P2P rounds);
 * online = sign_phase3 (which takes the digest and also finishes the multiplication and runs the
 * consistency checks that other libraries do while presigning) + broadcast + sign_phase4.
 */
export async function carbonSign(all: readonly Party[], t: number, digest: Uint8Array): Promise<CarbonSign> {
  const m = await load();
  const parties = all.slice(0, t);
  const signers = parties.map((_, k) => k + 1);
  const signId = randomId();
  const hash = Array.from(digest);
  const data = (i: number) => ({
    sign_id: signId,
    counterparties: signers.filter((j) => j !== i),
    message_hash: hash,
  });
  const wire = new Wire();
  const [kept, presignMs] = await timed(() => {
    const s1 = signers.map((i, k) => m.sign_phase1(parties[k], data(i)) as [unknown, unknown, Transmit[]]);
    for (const r of s1) wire.sendAll(r[2]);
    const s2 = signers.map((i, k) =>
      unwrap<[unknown, unknown, Transmit[]]>(
        m.sign_phase2(
          parties[k],
          data(i),
          s1[k]![0],
          s1[k]![1],
          to(
            s1.map((r) => r[2]),
            i,
          ),
        ),
        'sign phase 2',
      ),
    );
    for (const r of s2) wire.sendAll(r[2]);
    return s2;
  });
  const [results, onlineMs] = await timed(() => {
    const s3 = signers.map((i, k) =>
      unwrap<[string, unknown]>(
        m.sign_phase3(
          parties[k],
          data(i),
          kept[k]![0],
          kept[k]![1],
          to(
            kept.map((r) => r[2]),
            i,
          ),
        ),
        'sign phase 3',
      ),
    );
    for (const r of s3) wire.send(r[1], t - 1);
    const broadcasts = s3.map((r) => r[1]);
    return signers.map((i, k) => {
      const [s] = unwrap<[string, number]>(
        m.sign_phase4(parties[k], data(i), s3[k]![0], broadcasts, true),
        'sign phase 4',
      );
      return { r: s3[k]![0], s };
    });
  });
  const { r, s } = results[0]!;
  const sig = hexToBytes(`${r.padStart(64, '0')}${s.padStart(64, '0')}`);
  if (!secp256k1.verify(sig, digest, hexToBytes(parties[0]!.pk), { prehash: false, lowS: false }))
    throw new Error('0xCarbon: signature does not verify');
  return { presignMs, onlineMs, jsonBytes: wire.json, compactBytes: wire.compact, messages: wire.messages };
}

function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
