// Shared fixtures for the DKLs23 tests: a pairwise OT setup built from real base OTs.
import { baseOtReceive, baseOtSenderFinish, baseOtSenderStart } from '../../src/dkls23/ot/base.ts';
import type { OtExtReceiverSetup, OtExtSenderSetup } from '../../src/dkls23/ot/extension.ts';
import { seededRng } from '../../src/rng.ts';

export function pairwiseSetup(seed: string): { alice: OtExtSenderSetup; bob: OtExtReceiverSetup } {
  const rng = seededRng(seed);
  const sid = new Uint8Array(32).fill(7);
  const delta = rng(32);
  const sender = baseOtSenderStart(rng, sid);
  const received = baseOtReceive(rng, sid, sender.message, delta);
  const out = baseOtSenderFinish(sender.state, sid, received.message);
  return { alice: { delta, seeds: received.keys }, bob: { seeds0: out.keys0, seeds1: out.keys1 } };
}
