// Zero-sharing (DKLs23 §3, functionality F_Zero, instantiated as in the paper from pairwise PRF
// seeds agreed during setup): for the signing set S and session id sid, party i gets
//   ζ_i = Σ_{j ∈ S, j > i} PRF(seed_ij, sid) − Σ_{j ∈ S, j < i} PRF(seed_ij, sid),
// so Σ_{i∈S} ζ_i = 0 while each ζ_i looks uniform to everyone but i. Adding ζ_i to the Lagrange-
// weighted share re-randomises the additive key shares of every signing session.
import { Transcript } from '../transcript.ts';
import { hashToScalar, mod } from './scalar.ts';

export function zeroShare(
  self: number,
  signers: readonly number[],
  seeds: ReadonlyMap<number, Uint8Array>,
  sid: Uint8Array,
): bigint {
  let zeta = 0n;
  for (const j of signers) {
    if (j === self) continue;
    const seed = seeds.get(j);
    if (!seed) throw new RangeError(`zero-sharing: no seed shared with party ${j}`);
    const value = hashToScalar(
      new Transcript('dkls23/zero-share').append('seed', seed).append('sid', sid).digest(),
    );
    zeta += j > self ? value : -value;
  }
  return mod(zeta);
}
