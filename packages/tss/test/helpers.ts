// Shared test helpers: random subsets and wire-level tampering.
import { decodeWire, type WireMessage } from '../src/index.ts';
import type { InFlight, Tamper } from '../src/simulator.ts';

/** A random subset of 1..n of the given size, sorted; deterministic for a given seed. */
export function randomSubset(n: number, size: number, seed: number): number[] {
  let state = seed * 2654435761 + 1;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state;
  };
  const pool = Array.from({ length: n }, (_, i) => i + 1);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, size).sort((a, b) => a - b);
}

/** Applies `change` to the one message copy that matches (round, from, recipient). */
export function tamperOne(
  target: { round: number; from: number; recipient: number },
  change: (bytes: Uint8Array, msg: WireMessage, info: InFlight) => Uint8Array | null,
): { tamper: Tamper; hits: () => number } {
  let hits = 0;
  const tamper: Tamper = (bytes, info) => {
    if (info.round !== target.round || info.from !== target.from || info.recipient !== target.recipient)
      return bytes;
    hits++;
    return change(bytes, decodeWire(bytes), info);
  };
  return { tamper, hits: () => hits };
}
