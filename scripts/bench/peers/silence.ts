// @silencelaboratories/dkls-wasm-ll-node 1.1.2 (DKLs23 in Rust/WASM). Non-commercial licence:
// loaded here for benchmarking only, never by Coffer itself. The protocol is driven exactly as the
// package README shows: every party in this process, messages routed in memory (broadcasts to every
// other party, P2P to their `to_id`). Bytes are `Message.payload` lengths, a broadcast counted once
// per recipient; key-share size is `Keyshare.toBytes()`.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type * as Silence from '@silencelaboratories/dkls-wasm-ll-node';
import { timed } from '../timing.ts';

type Lib = typeof Silence;
type Message = Silence.Message;

let lib: Promise<Lib> | undefined;

function load(): Promise<Lib> {
  lib ??= import('@silencelaboratories/dkls-wasm-ll-node').then((m) => {
    // CommonJS package: named exports arrive on the namespace, or under `default` depending on the loader.
    const ns = m as unknown as Lib & { default?: Lib };
    return typeof ns.KeygenSession === 'function' ? ns : (ns.default as Lib);
  });
  return lib;
}

/** Counts and routes messages the way the README's helpers do. */
class Wire {
  bytes = 0;
  messages = 0;
  constructor(private readonly parties: number) {}

  /** Messages for `party` from a broadcast batch: every message not from it (clones; originals kept). */
  broadcastTo(batch: Message[], party: number): Message[] {
    return batch.filter((m) => m.from_id !== party).map((m) => m.clone());
  }

  /** Messages for `party` from a P2P batch. */
  directTo(batch: Message[], party: number): Message[] {
    return batch.filter((m) => m.to_id === party).map((m) => m.clone());
  }

  count(batch: Message[]): void {
    for (const m of batch) {
      const copies = m.to_id === undefined ? this.parties - 1 : 1;
      this.messages += copies;
      this.bytes += m.payload.length * copies;
    }
  }

  static free(batch: Message[]): void {
    for (const m of batch) m.free();
  }
}

export type SilenceKeygen = {
  shares: Uint8Array[];
  ms: number;
  bytes: number;
  messages: number;
  publicKey: Uint8Array;
};

export async function silenceKeygen(t: number, n: number): Promise<SilenceKeygen> {
  const { KeygenSession } = await load();
  const wire = new Wire(n);
  const [shares, ms] = await timed(() => {
    const parties = Array.from({ length: n }, (_, i) => new KeygenSession(n, t, i));
    const msg1 = parties.map((p) => p.createFirstMessage());
    wire.count(msg1);
    const msg2 = parties.flatMap((p, i) => p.handleMessages(wire.broadcastTo(msg1, i)));
    wire.count(msg2);
    const commitments = parties.map((p) => p.calculateChainCodeCommitment());
    // The chain-code commitments are a broadcast too.
    for (const c of commitments) {
      wire.bytes += c.length * (n - 1);
      wire.messages += n - 1;
    }
    const msg3 = parties.flatMap((p, i) => p.handleMessages(wire.directTo(msg2, i)));
    wire.count(msg3);
    const msg4 = parties.flatMap((p, i) => p.handleMessages(wire.directTo(msg3, i), commitments));
    wire.count(msg4);
    for (const [i, p] of parties.entries()) p.handleMessages(wire.broadcastTo(msg4, i));
    const keyshares = parties.map((p) => p.keyshare());
    const bytes = keyshares.map((k) => k.toBytes());
    const publicKey = keyshares[0]!.publicKey;
    for (const k of keyshares) k.free();
    for (const batch of [msg1, msg2, msg3, msg4]) Wire.free(batch);
    return { bytes, publicKey };
  });
  return {
    shares: shares.bytes,
    publicKey: shares.publicKey,
    ms,
    bytes: wire.bytes,
    messages: wire.messages,
  };
}

export type SilenceSign = {
  loadMs: number;
  presignMs: number;
  onlineMs: number;
  bytes: number;
  messages: number;
};

/**
 * One signature by the first t shares (as the README does). A SignSession consumes its Keyshare, so
 * each run deserialises fresh ones: that is timed separately (`loadMs`) and not part of presign.
 * presign = new SignSession + 2 message rounds up to the presignature; online = lastMessage with the
 * digest + combine.
 */
export async function silenceSign(
  shares: readonly Uint8Array[],
  t: number,
  digest: Uint8Array,
  publicKey: Uint8Array,
): Promise<SilenceSign> {
  const { Keyshare, SignSession } = await load();
  const [keyshares, loadMs] = await timed(() => shares.slice(0, t).map((b) => Keyshare.fromBytes(b)));
  const wire = new Wire(t);
  const batches: Message[][] = [];
  const [parties, presignMs] = await timed(() => {
    const sessions = keyshares.map((k) => new SignSession(k, 'm'));
    const msg1 = sessions.map((p) => p.createFirstMessage());
    wire.count(msg1);
    const msg2 = sessions.flatMap((p, i) => p.handleMessages(wire.broadcastTo(msg1, i)));
    wire.count(msg2);
    const msg3 = sessions.flatMap((p, i) => p.handleMessages(wire.directTo(msg2, i)));
    wire.count(msg3);
    for (const [i, p] of sessions.entries()) p.handleMessages(wire.directTo(msg3, i));
    batches.push(msg1, msg2, msg3);
    return sessions;
  });
  const [signatures, onlineMs] = await timed(() => {
    const msg4 = parties.map((p) => p.lastMessage(digest));
    wire.count(msg4);
    const sigs = parties.map((p, i) => p.combine(wire.broadcastTo(msg4, i)) as [Uint8Array, Uint8Array]);
    batches.push(msg4);
    return sigs;
  });
  for (const batch of batches) Wire.free(batch);
  const [r, s] = signatures[0]!;
  const sig = new Uint8Array(64);
  sig.set(r, 0);
  sig.set(s, 32);
  if (!secp256k1.verify(sig, digest, publicKey, { prehash: false, lowS: false }))
    throw new Error('Silence Labs: signature does not verify');
  return { loadMs, presignMs, onlineMs, bytes: wire.bytes, messages: wire.messages };
}
