// Randomness is always a parameter of protocol code (DESIGN §2). `systemRng` is the default the
// simulator and the node pass in; `seededRng` gives reproducible runs for tests and benchmarks only.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';

/** Returns `length` (default 32) uniformly random bytes; the shape noble's APIs accept. */
export type Rng = (length?: number) => Uint8Array<ArrayBuffer>;

export const systemRng: Rng = (length = 32) => randomBytes(length);

/**
 * Deterministic generator: HMAC-SHA256(seed, counter ‖ block) blocks. Not for production keys — a
 * seed makes every secret reproducible — but it makes simulator runs replayable.
 */
export function seededRng(seed: Uint8Array | string): Rng {
  const key = typeof seed === 'string' ? new TextEncoder().encode(seed) : Uint8Array.from(seed);
  let counter = 0;
  return (length = 32): Uint8Array<ArrayBuffer> => {
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const block = new Uint8Array(8);
      new DataView(block.buffer).setBigUint64(0, BigInt(counter++));
      const chunk = hmac(sha256, key, block);
      const take = Math.min(chunk.length, length - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
    }
    return out;
  };
}
