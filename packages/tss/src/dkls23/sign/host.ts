// The slice of RoundParty the per-round signing functions use (blame-aware decoding and echo
// broadcast), so the rounds stay plain functions over explicit state.
import { ProtocolAbort } from '../../errors.ts';
import { banPeer } from '../share.ts';
import type { SignContext } from './context.ts';

export type RoundHost = {
  readonly index: number;
  readonly peers: readonly number[];
  decode<R>(from: number, field: string, fn: () => R): R;
  digest(round: number, own: Uint8Array): Uint8Array;
  echoes(round: number, mine: Uint8Array, echoes: Map<number, Uint8Array>): void;
};

/**
 * DESIGN §3 item 5: a failed OT-extension, multiplication or Γ check bans the peer and discards
 * the pairwise setup with it (selective-failure attacks learn one bit per abort, so the setup must
 * never be retried).
 */
export function banAndAbort(
  ctx: SignContext,
  peer: number,
  reason: 'ot-check-failed' | 'multiplication-check-failed',
  message: string,
): never {
  banPeer(ctx.share, peer);
  throw new ProtocolAbort(reason, [peer], `party ${peer}: ${message}; pairwise setup discarded`, {
    banned: [peer],
  });
}
