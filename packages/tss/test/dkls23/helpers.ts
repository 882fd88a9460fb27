// Shared fixtures for the DKLs23 tests: a pairwise OT-extension setup built from real base OTs and
// the all-but-one OTs on top of them, exactly as key generation builds it.
import { baseOtReceive, baseOtSenderFinish, baseOtSenderStart } from '../../src/dkls23/ot/base.ts';
import type { OtExtReceiverSetup, OtExtSenderSetup } from '../../src/dkls23/ot/extension.ts';
import { puncturedReceive, puncturedSend } from '../../src/dkls23/ot/punctured.ts';
import { seededRng } from '../../src/rng.ts';

export function pairwiseSetup(seed: string): { alice: OtExtSenderSetup; bob: OtExtReceiverSetup } {
  const rng = seededRng(seed);
  const sid = new Uint8Array(32).fill(7);
  const choices = rng(32);
  const sender = baseOtSenderStart(rng, sid);
  const received = baseOtReceive(rng, sid, sender.message, choices);
  const out = baseOtSenderFinish(sender.state, sid, received.message);
  const bob = puncturedSend(rng, out.keys0, out.keys1);
  const alice = puncturedReceive(choices, received.keys, bob.message);
  return { alice, bob: { leaves: bob.leaves } };
}
