// Key-generation fixtures shared within a test file (key generation is the slow part: κ base OTs
// per ordered pair of parties).
import { expect } from 'vitest';
import { decodeWire, encodeWire } from '../../src/codec/wire.ts';
import { ecdsaKeygenParties, ecdsaSignParties } from '../../src/dkls23/index.ts';
import { ProtocolAbort } from '../../src/errors.ts';
import type { KeyShare } from '../../src/keyshare.ts';
import { seededRng } from '../../src/rng.ts';
import { type InFlight, runParties, type Tamper } from '../../src/simulation/network.ts';

export function keygen(
  threshold: number,
  parties: number,
  seed = `keygen-${threshold}-${parties}`,
  tamper?: Tamper,
): KeyShare[] {
  return runParties(ecdsaKeygenParties({ session: seed, threshold, parties, rng: seededRng(seed) }), {
    tamper,
  });
}

export function pick(shares: readonly KeyShare[], indices: readonly number[]): KeyShare[] {
  return indices.map((i) => shares.find((s) => s.index === i)!);
}

export function sign(shares: KeyShare[], digest: Uint8Array, session: string, path?: string): Uint8Array {
  const parties = ecdsaSignParties({ session, shares, message: digest, path, rng: seededRng(session) });
  const results = runParties(parties);
  for (const r of results) expect(r).toEqual(results[0]);
  return results[0]!;
}

/** Rewrites the payload of matching in-flight messages (the wire envelope is re-encoded). */
export function rewrite(
  match: (info: InFlight) => boolean,
  edit: (payload: Uint8Array, info: InFlight) => Uint8Array,
): Tamper {
  return (bytes, info) => {
    if (!match(info)) return bytes;
    const msg = decodeWire(bytes);
    return encodeWire({ ...msg, payload: edit(Uint8Array.from(msg.payload), info) });
  };
}

export function flipByte(offset: number): (payload: Uint8Array) => Uint8Array {
  return (p) => {
    const out = Uint8Array.from(p);
    const at = offset < 0 ? out.length + offset : offset;
    out[at]! ^= 0x01;
    return out;
  };
}

/** Runs `fn` and returns the ProtocolAbort it throws (fails the test if it returns normally). */
export function abortOf(fn: () => unknown): ProtocolAbort {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolAbort) return e;
    throw e;
  }
  throw new Error('expected a ProtocolAbort, but the protocol completed');
}
