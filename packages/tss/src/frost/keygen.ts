// FROST distributed key generation with Coffer's session layer around noble's DKG
// (RFC 9591 leaves DKG out of scope; noble follows the Pedersen/Feldman DKG of the FROST paper,
// Komlo–Goldberg 2020, Figure 1, as frost-rs does). Rounds:
//   1. broadcast a random contribution ρ_i; sid = H(params ‖ ρ_1 … ρ_n)      (DESIGN §3 item 1)
//   2. broadcast a commitment to (noble round-1 package ‖ chain-code share), bound to sid and i;
//      sid doubles as the echo of round 1                                     (items 3, 4, 9)
//   3. broadcast the opening, with the echo of round 2; noble round 2 checks every proof of knowledge
//   4. send each peer its Feldman share (direct); noble round 3 verifies every share
//   5. broadcast a confirmation hash of the result; all must agree            (issue 2 §3)
// The proof of knowledge is bound to the party by noble (the identifier is in its challenge) and to
// the session by the round-2 commitment, which is opened only after sid is fixed.
import type { DKG_Round1, DKG_Secret } from '@noble/curves/abstract/frost.js';
import { ByteReader, ByteWriter, equalBytes } from '../codec/bytes.ts';
import { describeError, ProtocolAbort } from '../errors.ts';
import { type KeyShare, keyShareFromProtocol } from '../keyshare.ts';
import { type Outgoing, type RoundInbox, RoundParty } from '../party.ts';
import type { Rng } from '../rng.ts';
import { chainPublicKey, MAX_PARTIES, MIN_PARTIES } from '../schemes.ts';
import { Transcript } from '../transcript.ts';
import { FROST_SUITES, type FrostSchemeId, type FrostSuite, frostIdentifier } from './suite.ts';

export type FrostKeygenOptions = {
  scheme: FrostSchemeId;
  session: string;
  index: number;
  threshold: number;
  parties: number;
  rng: Rng;
};

const CONTRIBUTION_LENGTH = 32;
const HASH_LENGTH = 32;

export class FrostKeygenParty extends RoundParty<KeyShare> {
  private readonly suite: FrostSuite;
  private readonly threshold: number;
  private readonly total: number;
  private readonly rng: Rng;
  private readonly withChainCode: boolean;
  private contribution: Uint8Array = new Uint8Array(0);
  private sid: Uint8Array = new Uint8Array(0);
  private dkgSecret: DKG_Secret | undefined;
  private ownPackage: Uint8Array = new Uint8Array(0);
  private ownChainShare: Uint8Array = new Uint8Array(0);
  private ownCommitment: Uint8Array = new Uint8Array(0);
  private ownRound2: Uint8Array = new Uint8Array(0);
  private round2Echo: Uint8Array = new Uint8Array(0);
  private commitments = new Map<number, Uint8Array>();
  private packages = new Map<number, DKG_Round1>();
  private chainShares = new Map<number, Uint8Array>();
  private share: KeyShare | undefined;
  private confirmation: Uint8Array = new Uint8Array(0);

  constructor(opts: FrostKeygenOptions) {
    assertKeygenParameters(opts.threshold, opts.parties);
    if (!Number.isInteger(opts.index) || opts.index < 1 || opts.index > opts.parties)
      throw new RangeError(`index must be in 1..${opts.parties}`);
    super({
      session: opts.session,
      index: opts.index,
      parties: Array.from({ length: opts.parties }, (_, i) => i + 1),
      rounds: ['broadcast', 'broadcast', 'broadcast', 'direct', 'broadcast'],
    });
    this.suite = FROST_SUITES[opts.scheme];
    this.threshold = opts.threshold;
    this.total = opts.parties;
    this.rng = opts.rng;
    this.withChainCode = opts.scheme !== 'eddsa-ed25519';
  }

  protected begin(): Outgoing[] {
    this.contribution = this.rng(CONTRIBUTION_LENGTH);
    return [{ to: null, payload: this.contribution }];
  }

  protected finishRound(round: number, inbox: RoundInbox): Outgoing[] {
    switch (round) {
      case 1:
        return this.afterContributions(inbox);
      case 2:
        return this.afterCommitments(inbox);
      case 3:
        return this.afterOpenings(inbox);
      case 4:
        return this.afterShares(inbox);
      default:
        return this.afterConfirmations(inbox);
    }
  }

  // Round 1 → 2: fix the session id from everyone's contribution, then commit.
  private afterContributions(inbox: RoundInbox): Outgoing[] {
    const t = new Transcript('frost/dkg/sid')
      .append('scheme', this.suite.scheme)
      .append('session', this.session)
      .append('threshold', this.threshold)
      .append('parties', this.total);
    for (const p of this.parties) {
      const c = p === this.index ? this.contribution : inbox.broadcast.get(p)!;
      if (p !== this.index && c.length !== CONTRIBUTION_LENGTH)
        throw new ProtocolAbort(
          'malformed-message',
          [p],
          `round-1 contribution from party ${p} must be 32 bytes`,
        );
      t.append(`contribution-${p}`, c);
    }
    this.sid = t.digest();
    const { frost } = this.suite;
    const signers = { min: this.threshold, max: this.total };
    const round1 = frost.DKG.round1(frostIdentifier(this.suite, this.index), signers, undefined, this.rng);
    this.dkgSecret = round1.secret;
    this.ownPackage = encodePackage(round1.public);
    this.ownChainShare = this.withChainCode ? this.rng(32) : new Uint8Array(0);
    this.ownCommitment = this.commitmentOf(this.index, this.ownPackage, this.ownChainShare);
    this.ownRound2 = new ByteWriter().raw(this.sid).raw(this.ownCommitment).finish();
    return [{ to: null, payload: this.ownRound2 }];
  }

  // Round 2 → 3: everyone saw the same contributions (sid echo); reveal the committed package.
  private afterCommitments(inbox: RoundInbox): Outgoing[] {
    const echoes = new Map<number, Uint8Array>();
    for (const [from, payload] of inbox.broadcast) {
      const { sid, commitment } = this.decodeFrom(from, 'round-2 commitment', () => {
        const r = new ByteReader(payload);
        const out = { sid: r.raw(HASH_LENGTH, 'sid'), commitment: r.raw(HASH_LENGTH, 'commitment') };
        r.end('round 2');
        return out;
      });
      echoes.set(from, sid);
      this.commitments.set(from, commitment);
    }
    this.checkEchoes(1, this.sid, echoes);
    this.round2Echo = this.broadcastDigest(2, this.ownRound2);
    const w = new ByteWriter().raw(this.round2Echo).raw(this.ownPackage);
    if (this.withChainCode) w.raw(this.ownChainShare);
    return [{ to: null, payload: w.finish() }];
  }

  // Round 3 → 4: check openings and proofs, then send each peer its share.
  private afterOpenings(inbox: RoundInbox): Outgoing[] {
    const { group, frost } = this.suite;
    const echoes = new Map<number, Uint8Array>();
    const packageLength = this.threshold * group.pointLength + this.suite.proofLength;
    for (const [from, payload] of inbox.broadcast) {
      const opened = this.decodeFrom(from, 'round-3 opening', () => {
        const r = new ByteReader(payload);
        const echo = r.raw(HASH_LENGTH, 'echo');
        const pkg = r.raw(packageLength, 'package');
        const chain = this.withChainCode ? r.raw(32, 'chainCodeShare') : new Uint8Array(0);
        r.end('round 3');
        return { echo, pkg, chain };
      });
      echoes.set(from, opened.echo);
      const commitment = this.commitments.get(from)!;
      if (!equalBytes(commitment, this.commitmentOf(from, opened.pkg, opened.chain)))
        throw new ProtocolAbort(
          'commitment-mismatch',
          [from],
          `party ${from} opened a value it did not commit to`,
        );
      this.packages.set(
        from,
        this.decodeFrom(from, 'round-1 package', () =>
          decodePackage(this.suite, from, this.threshold, opened.pkg),
        ),
      );
      this.chainShares.set(from, opened.chain);
    }
    this.checkEchoes(2, this.round2Echo, echoes);
    const others = this.peers.map((p) => this.packages.get(p)!);
    let outgoing: Record<string, { signingShare: Uint8Array }>;
    try {
      outgoing = frost.DKG.round2(this.dkgSecret!, others);
    } catch (e) {
      throw new ProtocolAbort(
        'invalid-proof',
        this.blameProofs(),
        `round-1 package rejected: ${describeError(e)}`,
      );
    }
    return this.peers.map((p) => ({
      to: p,
      payload: outgoing[frostIdentifier(this.suite, p)]!.signingShare,
    }));
  }

  // Round 4 → 5: verify the Feldman shares, assemble the key, confirm it with everyone.
  private afterShares(inbox: RoundInbox): Outgoing[] {
    const { group, frost } = this.suite;
    const received = this.peers.map((p) => {
      const bytes = inbox.direct.get(p)!;
      this.decodeFrom(p, 'round-4 share', () =>
        group.decodeScalar(bytes, 'signingShare', { allowZero: true }),
      );
      return { identifier: frostIdentifier(this.suite, p), signingShare: bytes };
    });
    const round1 = this.peers.map((p) => this.packages.get(p)!);
    let key: ReturnType<typeof frost.DKG.round3>;
    try {
      key = frost.DKG.round3(this.dkgSecret!, round1, received);
    } catch (e) {
      throw new ProtocolAbort(
        'invalid-share',
        this.blameShares(received),
        `Feldman check failed: ${describeError(e)}`,
      );
    }
    const groupPoint = key.public.commitments[0]!;
    const publicShares = this.parties.map((p) => key.public.verifyingShares[frostIdentifier(this.suite, p)]!);
    const chainCode = this.withChainCode ? this.chainCode() : new Uint8Array(0);
    this.share = keyShareFromProtocol({
      scheme: this.suite.scheme,
      index: this.index,
      threshold: this.threshold,
      parties: this.total,
      keyId: this.sid,
      publicKey: chainPublicKey(this.suite.scheme, groupPoint),
      groupPoint,
      chainCode,
      publicShares,
      publicMaterial: new Uint8Array(0),
      secretMaterial: key.secret.signingShare,
    });
    frost.DKG.clean(this.dkgSecret!);
    this.confirmation = new Transcript('frost/dkg/confirm')
      .append('sid', this.sid)
      .append('groupPoint', groupPoint)
      .append('chainCode', chainCode)
      .appendList('publicShares', publicShares)
      .digest();
    return [{ to: null, payload: this.confirmation }];
  }

  private afterConfirmations(inbox: RoundInbox): Outgoing[] {
    const disagree = [...inbox.broadcast]
      .filter(([, c]) => !equalBytes(c, this.confirmation))
      .map(([p]) => p);
    if (disagree.length > 0)
      throw new ProtocolAbort(
        'inconsistent-result',
        disagree,
        `part${disagree.length === 1 ? 'y' : 'ies'} ${disagree.join(', ')} computed a different key`,
      );
    this.finish(this.share!);
    return [];
  }

  private commitmentOf(party: number, pkg: Uint8Array, chainShare: Uint8Array): Uint8Array {
    return new Transcript('frost/dkg/commit')
      .append('sid', this.sid)
      .append('party', party)
      .append('package', pkg)
      .append('chainCodeShare', chainShare)
      .digest();
  }

  private chainCode(): Uint8Array {
    const t = new Transcript('frost/dkg/chaincode').append('sid', this.sid);
    for (const p of this.parties)
      t.append(`share-${p}`, p === this.index ? this.ownChainShare : this.chainShares.get(p)!);
    return t.digest();
  }

  /** Failure path only: which peers' packages hold an invalid point or fail their proof on their own. */
  private blameProofs(): number[] {
    const { frost, group } = this.suite;
    const badPoints = this.peers.filter((p) => {
      try {
        for (const c of this.packages.get(p)!.commitment) group.decodePoint(c, 'commitment');
        return false;
      } catch {
        return true;
      }
    });
    if (badPoints.length > 0) return badPoints;
    const signers = { min: this.threshold, max: this.total };
    return this.peers.filter((suspect) => {
      const scratch = frost.DKG.round1(frostIdentifier(this.suite, this.index), signers, undefined, this.rng);
      const others = this.peers.map((p) =>
        p === suspect
          ? this.packages.get(p)!
          : frost.DKG.round1(frostIdentifier(this.suite, p), signers, undefined, this.rng).public,
      );
      try {
        frost.DKG.round2(scratch.secret, others);
        return false;
      } catch {
        return true;
      }
    });
  }

  /** Failure path only: whose share fails the Feldman check against its own commitment. */
  private blameShares(received: Array<{ identifier: string; signingShare: Uint8Array }>): number[] {
    const { frost } = this.suite;
    const own = frostIdentifier(this.suite, this.index);
    return this.peers.filter((p, i) => {
      const pkg = this.packages.get(p)!;
      try {
        frost.validateSecret(
          { identifier: own, signingShare: received[i]!.signingShare },
          {
            signers: { min: this.threshold, max: this.total },
            commitments: pkg.commitment,
            verifyingShares: {},
          },
        );
        return false;
      } catch {
        return true;
      }
    });
  }
}

export function frostKeygenParties(
  opts: Omit<FrostKeygenOptions, 'index' | 'rng'> & { rng: (index: number) => Rng },
) {
  return Array.from(
    { length: opts.parties },
    (_, i) => new FrostKeygenParty({ ...opts, index: i + 1, rng: opts.rng(i + 1) }),
  );
}

export function assertKeygenParameters(threshold: number, parties: number): void {
  if (!Number.isInteger(parties) || parties < MIN_PARTIES || parties > MAX_PARTIES)
    throw new RangeError(`parties must be an integer in ${MIN_PARTIES}..${MAX_PARTIES}, got ${parties}`);
  if (!Number.isInteger(threshold) || threshold < MIN_PARTIES || threshold > parties)
    throw new RangeError(`threshold must be an integer in ${MIN_PARTIES}..${parties}, got ${threshold}`);
}

/** noble round-1 package on the wire: t VSS commitment points ‖ proof of knowledge. */
function encodePackage(pkg: DKG_Round1): Uint8Array {
  const w = new ByteWriter();
  for (const c of pkg.commitment) w.raw(c);
  return w.raw(pkg.proofOfKnowledge).finish();
}

function decodePackage(suite: FrostSuite, from: number, threshold: number, bytes: Uint8Array): DKG_Round1 {
  const r = new ByteReader(bytes);
  const commitment: Uint8Array[] = [];
  for (let k = 0; k < threshold; k++) {
    // Exact length here; noble's round 2 validates every point (on curve, not identity, prime
    // order) before any share is computed, and blameProofs() names the sender when it fails.
    commitment.push(r.raw(suite.group.pointLength, `commitment[${k}]`));
  }
  const proofOfKnowledge = r.raw(suite.proofLength, 'proofOfKnowledge');
  r.end('package');
  return { identifier: frostIdentifier(suite, from), commitment, proofOfKnowledge } as DKG_Round1;
}
