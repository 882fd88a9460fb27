// DKLs23 Protocol 3.6, round 1 (steps 4–6): sample the instance key r_i and the inversion mask φ_i,
// commit to R_i = r_i·G, and start one random-input multiplication as Bob with every peer (DKLs23
// Functionality 3.5: Bob's random input is χ_{i,j}).
import type { Outgoing } from '../../party.ts';
import type { Rng } from '../../rng.ts';
import { Transcript } from '../../transcript.ts';
import { type MulReceiverState, mulReceiverStart } from '../multiplication.ts';
import { baseMul, type Point, pointBytes, randomScalar } from '../scalar.ts';
import type { SignContext } from './context.ts';
import { encodeSignRound1, encodeSignRound1Direct } from './messages.ts';

export type SignFaults = {
  /** Test seam: replace this party's instance key r_i. */
  instanceKey?: bigint;
  /** Test seam: add this offset to sk_i in the multiplication and in pk_i (a consistent liar). */
  keyShareOffset?: bigint;
};

export type Round1State = {
  ctx: SignContext;
  rng: Rng;
  faults: SignFaults;
  r: bigint;
  phi: bigint;
  R: Point;
  salt: Uint8Array;
  broadcast: Uint8Array;
  /** This party as Bob toward each peer: the state holding χ_{i,j} = b. */
  receivers: Map<number, MulReceiverState>;
  /** Bob's fresh nonce per peer, sent with the OT-extension message it keys. */
  pairNonces: Map<number, Uint8Array>;
};

export function commitmentTo(ctx: SignContext, party: number, R: Uint8Array, salt: Uint8Array): Uint8Array {
  return new Transcript('dkls23/sign/commit')
    .append('context', ctx.digest)
    .append('party', party)
    .append('R', R)
    .append('salt', salt)
    .digest();
}

/** OT-extension session for the pair (alice, bob), fresh through Bob's nonce. */
export function extensionSid(ctx: SignContext, alice: number, bob: number, bobNonce: Uint8Array): Uint8Array {
  return new Transcript('dkls23/sign/ot-extension')
    .append('context', ctx.digest)
    .append('alice', alice)
    .append('bob', bob)
    .append('nonce', bobNonce)
    .digest();
}

export function signRound1(
  ctx: SignContext,
  rng: Rng,
  faults: SignFaults = {},
): { state: Round1State; out: Outgoing[] } {
  const me = ctx.share.index;
  // Step 5: instance key r_i, inversion mask φ_i, R_i = r_i·G.
  const r = faults.instanceKey ?? randomScalar(rng);
  const phi = randomScalar(rng);
  const R = baseMul(r);
  const salt = rng(32);
  const nonce = rng(32);
  // Step 6: commit to R_i (F_Com), bound to the signing context and this party.
  const broadcast = encodeSignRound1({
    context: ctx.digest,
    nonce,
    commitment: commitmentTo(ctx, me, pointBytes(R), salt),
  });
  const out: Outgoing[] = [{ to: null, payload: broadcast }];
  const receivers = new Map<number, MulReceiverState>();
  const pairNonces = new Map<number, Uint8Array>();
  for (const j of ctx.signers) {
    if (j === me) continue;
    const setup = ctx.share.setup.peers.get(j)!;
    // Step 6: F_RVOLE with P_j, this party as Bob with random input χ_{i,j} (first message).
    // The extension session depends only on this direct message (never on a broadcast), so an
    // equivocated broadcast is caught by the echo check instead of failing an OT check.
    const pairNonce = rng(32);
    const { state, message } = mulReceiverStart(setup.receiver, extensionSid(ctx, j, me, pairNonce), rng);
    receivers.set(j, state);
    pairNonces.set(j, pairNonce);
    out.push({ to: j, payload: encodeSignRound1Direct({ nonce: pairNonce, extension: message }) });
  }
  return { state: { ctx, rng, faults, r, phi, R, salt, broadcast, receivers, pairNonces }, out };
}
