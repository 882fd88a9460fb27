// Attacks that tampering in flight cannot express, because a malicious party keeps its own state
// consistent with what it sends (so echoes match): each must still abort and name that party.
import { describe, expect, it } from 'vitest';
import { FrostKeygenParty, ProtocolAbort, seededRng } from '../src/index.ts';
import type { Outgoing, RoundInbox } from '../src/party.ts';
import { runParties } from '../src/simulation/network.ts';

type Internals = {
  index: number;
  sid: Uint8Array;
  ownPackage: Uint8Array;
  ownChainShare: Uint8Array;
  ownCommitment: Uint8Array;
  ownRound2: Uint8Array;
  commitmentOf(party: number, pkg: Uint8Array, chain: Uint8Array): Uint8Array;
};

/** Party 3 commits to (and later opens) a package whose proof of knowledge is invalid. */
class ForgedProofParty extends FrostKeygenParty {
  protected override finishRound(round: number, inbox: RoundInbox): Outgoing[] {
    const out = super.finishRound(round, inbox);
    if (round !== 1) return out;
    const self = this as unknown as Internals;
    const pkg = Uint8Array.from(self.ownPackage);
    pkg[pkg.length - 1]! ^= 0x01; // last byte of the proof's response z
    self.ownPackage = pkg;
    self.ownCommitment = self.commitmentOf(self.index, pkg, self.ownChainShare);
    self.ownRound2 = Uint8Array.from([...self.sid, ...self.ownCommitment]);
    return [{ to: null, payload: self.ownRound2 }];
  }
}

describe.each(['schnorr-secp256k1-tr', 'eddsa-ed25519'] as const)('%s key generation', (scheme) => {
  it('a forged proof of knowledge, committed and opened consistently, aborts and names its sender (rogue-key attack)', () => {
    const base = { scheme, session: 'keygen/forged-proof', threshold: 2, parties: 3 };
    const parties = [
      new FrostKeygenParty({ ...base, index: 1, rng: seededRng('p1') }),
      new FrostKeygenParty({ ...base, index: 2, rng: seededRng('p2') }),
      new ForgedProofParty({ ...base, index: 3, rng: seededRng('p3') }),
    ];
    let error: unknown;
    let result: unknown;
    try {
      result = runParties(parties);
    } catch (e) {
      error = e;
    }
    expect(result).toBeUndefined();
    expect(error).toBeInstanceOf(ProtocolAbort);
    expect((error as ProtocolAbort).reason).toBe('invalid-proof');
    expect((error as ProtocolAbort).culprits).toEqual([3]);
  });
});
