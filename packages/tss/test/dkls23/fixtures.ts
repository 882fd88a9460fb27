// Key-generation fixtures shared within a test file (key generation is the slow part: κ base OTs
// per ordered pair of parties).
import { ecdsaKeygenParties } from '../../src/dkls23/index.ts';
import type { KeyShare } from '../../src/keyshare.ts';
import { seededRng } from '../../src/rng.ts';
import { runParties, type Tamper } from '../../src/simulation/network.ts';

export function keygen(threshold: number, parties: number, seed = `keygen-${threshold}-${parties}`, tamper?: Tamper): KeyShare[] {
  return runParties(ecdsaKeygenParties({ session: seed, threshold, parties, rng: seededRng(seed) }), { tamper });
}

export function pick(shares: readonly KeyShare[], indices: readonly number[]): KeyShare[] {
  return indices.map((i) => shares.find((s) => s.index === i)!);
}
