// DKLs23 key generation and refresh, one party. The key generation DKLs23 builds on is the one
// of DKLs' threshold Schnorr paper (ePrint 2023/602, Protocol 9.1): Feldman VSS with
// commit-then-reveal and proofs of knowledge, extended with the pairwise setup signing needs — base
// OTs in both directions for the OT extension (DKLs23 p. 30) and the zero-sharing seeds (DKLs23 §3,
// F_Zero). Refresh (proactive re-sharing, as 0xCarbon's refresh.rs does for DKLs23) is the same protocol with every dealer's
// constant term fixed to 0 and a fresh pairwise setup, so the group key and chain code stay.
//
//   round 1  broadcast: context, nonce, commitment to (Feldman commitments, chain-code share)
//            direct:    base-OT sender message A + proof (this party as extension receiver "Bob")
//   round 2  broadcast: echo of round 1, reveal of the commitment, proof of knowledge of a_0
//            direct:    f_i(j), zero-seed contribution, base-OT receiver message (this party as "Alice")
//   round 3  broadcast: echo of round 2, confirmation hash of (pk, chain code, public shares)
import { DecodeError, equalBytes } from '../../codec/bytes.ts';
import { describeError, ProtocolAbort } from '../../errors.ts';
import { KeyShare } from '../../keyshare.ts';
import { type Outgoing, type RoundInbox, RoundParty } from '../../party.ts';
import type { Rng } from '../../rng.ts';
import { Transcript } from '../../transcript.ts';
import { encodePublicMaterial, encodeSetup, type PeerSetup } from '../material.ts';
import {
  BaseOtProofError,
  type BaseOtSenderState,
  baseOtReceive,
  baseOtSenderFinish,
  baseOtSenderStart,
} from '../ot/base.ts';
import { OtCheckError, otExtReceive, otExtSend } from '../ot/extension.ts';
import { puncturedReceive, puncturedSend } from '../ot/punctured.ts';
import { XI } from '../params.ts';
import { inspectSymbol, redactedSummary } from '../redact.ts';
import {
  baseMul,
  hashToScalar,
  mod,
  Point as P,
  type Point,
  pointBytes,
  publicMul,
  randomScalar,
  scalarBytes,
} from '../scalar.ts';
import type { LoadedShare } from '../share.ts';
import {
  decodeRound1,
  decodeRound2,
  decodeRound2Direct,
  decodeRound3,
  decodeRound3Direct,
  encodeRound1,
  encodeRound2,
  encodeRound2Direct,
  encodeRound3,
  encodeRound3Direct,
  type Round1Broadcast,
  type Round2Broadcast,
  type Round2Direct,
} from './messages.ts';

export type DkgOptions = {
  session: string;
  index: number;
  threshold: number;
  parties: number;
  rng: Rng;
  /** Refresh mode: this party's current share (all n parties take part). */
  refresh?: LoadedShare;
  /** Test seam: a dealer that adds this offset to every share it deals (consistently committed). */
  faults?: { shareOffset?: bigint };
};

/** Evaluates Feldman commitments at x = k (public data); refresh polynomials have no constant term. */
function evaluateCommitments(coefficients: readonly Point[], k: number, hasConstant: boolean): Point {
  let acc: Point = P.ZERO;
  for (let l = coefficients.length - 1; l >= 0; l--) acc = publicMul(acc, BigInt(k)).add(coefficients[l]!);
  return hasConstant ? acc : publicMul(acc, BigInt(k));
}

function evaluatePolynomial(coefficients: readonly bigint[], k: number): bigint {
  let acc = 0n;
  for (let l = coefficients.length - 1; l >= 0; l--) acc = mod(acc * BigInt(k) + coefficients[l]!);
  return acc;
}

export class DklsKeygenParty extends RoundParty<KeyShare> {
  private readonly rng: Rng;
  private readonly threshold: number;
  private readonly n: number;
  private readonly old: LoadedShare | undefined;
  private readonly shareOffset: bigint;
  private readonly context: Uint8Array;
  /** Polynomial f_i: a_0..a_{t−1} (a_0 = 0 for refresh). */
  private readonly poly: bigint[];
  /** Published Feldman commitments (without the constant term when refreshing). */
  private readonly commitments: Point[];
  private readonly chainCodeShare: Uint8Array;
  private readonly salt: Uint8Array;
  private readonly round1: Uint8Array;
  private readonly baseOtSenders = new Map<number, BaseOtSenderState>();
  /** This party as base-OT receiver toward each peer: its choice bits and keys (Alice's side). */
  private readonly baseOtReceived = new Map<number, { choices: Uint8Array; keys: Uint8Array[] }>();
  private readonly zeroContributions = new Map<number, Uint8Array>();
  private sid: Uint8Array = new Uint8Array(32);
  private echo1: Uint8Array = new Uint8Array(32);
  private commitmentsSeen = new Map<number, Uint8Array>();
  private round2: Uint8Array = new Uint8Array(0);
  private pending:
    | {
        x: bigint;
        pk: Point;
        chainCode: Uint8Array;
        publicShares: Point[];
        peers: PeerSetup[];
        confirmation: Uint8Array;
      }
    | undefined;

  constructor(opts: DkgOptions) {
    const parties = Array.from({ length: opts.parties }, (_, k) => k + 1);
    super({ session: opts.session, index: opts.index, parties, rounds: ['both', 'both', 'both'] });
    this.rng = opts.rng;
    this.threshold = opts.threshold;
    this.n = opts.parties;
    this.old = opts.refresh;
    this.shareOffset = opts.faults?.shareOffset ?? 0n;
    const ctx = new Transcript('dkls23/dkg/context')
      .append('session', opts.session)
      .append('threshold', opts.threshold)
      .append('parties', opts.parties)
      .append('mode', this.old ? 'refresh' : 'keygen');
    if (this.old)
      ctx
        .append('keyId', this.old.keyId)
        .append('setupId', this.old.setupId)
        .append('groupPoint', this.old.groupPoint)
        .appendList('publicShares', this.old.publicShares.map(pointBytes));
    this.context = ctx.digest();
    // Protocol 9.1 step 1 (ePrint 2023/602): sample f_i of degree t−1 and commit to a_l·G.
    this.poly = Array.from({ length: this.threshold }, (_, l) =>
      l === 0 && this.old ? 0n : randomScalar(this.rng),
    );
    this.commitments = this.poly.slice(this.old ? 1 : 0).map(baseMul);
    this.chainCodeShare = this.old ? new Uint8Array(32) : this.rng(32);
    this.salt = this.rng(32);
    this.round1 = encodeRound1({
      context: this.context,
      nonce: this.rng(32),
      commitment: this.commitmentOf(this.index, this.commitments, this.chainCodeShare, this.salt),
    });
  }

  toJSON(): Record<string, unknown> {
    return { type: 'DklsKeygenParty', index: this.index, session: this.session, secret: '<redacted>' };
  }

  [inspectSymbol](): string {
    return redactedSummary('DklsKeygenParty', this.index, this.session);
  }

  private commitmentOf(
    party: number,
    coefficients: Point[],
    chainCode: Uint8Array,
    salt: Uint8Array,
  ): Uint8Array {
    return new Transcript('dkls23/dkg/commit')
      .append('context', this.context)
      .append('party', party)
      .appendList('coefficients', coefficients.map(pointBytes))
      .append('chainCode', chainCode)
      .append('salt', salt)
      .digest();
  }

  /** Base-OT session for the direction where `bob` is the extension receiver (base-OT sender). */
  private baseOtSid(bob: number, alice: number): Uint8Array {
    return new Transcript('dkls23/dkg/base-ot')
      .append('context', this.context)
      .append('bob', bob)
      .append('alice', alice)
      .digest();
  }

  /** Session of the DKG's test OT extension for the direction (alice, bob). */
  private setupCheckSid(alice: number, bob: number): Uint8Array {
    return new Transcript('dkls23/dkg/setup-check')
      .append('sid', this.sid)
      .append('alice', alice)
      .append('bob', bob)
      .digest();
  }

  private proofChallenge(party: number, a0: Point, K: Point): bigint {
    return hashToScalar(
      new Transcript('dkls23/dkg/pok')
        .append('sid', this.sid)
        .append('party', party)
        .append('A', pointBytes(a0))
        .append('K', pointBytes(K))
        .digest(),
    );
  }

  protected begin(): Outgoing[] {
    const out: Outgoing[] = [{ to: null, payload: this.round1 }];
    // DKLs23 p. 30: κ base OTs per ordered pair; here this party is the base-OT sender toward
    // each peer, i.e. the OT-extension receiver ("Bob") of multiplications with that peer.
    for (const j of this.peers) {
      const { state, message } = baseOtSenderStart(this.rng, this.baseOtSid(this.index, j));
      this.baseOtSenders.set(j, state);
      out.push({ to: j, payload: message });
    }
    return out;
  }

  protected finishRound(round: number, inbox: RoundInbox): Outgoing[] {
    if (round === 1) return this.afterRound1(inbox);
    if (round === 2) return this.afterRound2(inbox);
    this.afterRound3(inbox);
    return [];
  }

  private afterRound1(inbox: RoundInbox): Outgoing[] {
    const received = new Map<number, Round1Broadcast>();
    for (const j of this.peers) {
      const m = this.decodeFrom(j, 'round-1 broadcast', () => decodeRound1(inbox.broadcast.get(j)!));
      // DESIGN §3 item 1: a message of another session, key or mode never gets further than this.
      if (!equalBytes(m.context, this.context))
        throw new ProtocolAbort('wrong-session', [j], `party ${j} is running another key generation`);
      received.set(j, m);
    }
    const own = decodeRound1(this.round1);
    received.set(this.index, own);
    // Session id from every party's contribution (DESIGN §3 item 1).
    const sid = new Transcript('dkls23/dkg/session').append('context', this.context);
    for (const p of this.parties) sid.append(`nonce-${p}`, received.get(p)!.nonce);
    this.sid = sid.digest();
    for (const p of this.parties) this.commitmentsSeen.set(p, received.get(p)!.commitment);
    this.echo1 = this.broadcastDigest(1, this.round1);

    // Protocol 9.1 step 2: reveal with a proof of knowledge of a_0 bound to the session and index.
    let proof: Round2Broadcast['proof'];
    if (!this.old) {
      const k = randomScalar(this.rng);
      const K = baseMul(k);
      proof = { K, z: mod(k + this.proofChallenge(this.index, this.commitments[0]!, K) * this.poly[0]!) };
    }
    const directs: Outgoing[] = [];
    for (const j of this.peers) {
      // This party as base-OT receiver, i.e. extension sender ("Alice") toward j; its random
      // choices become Δ (complemented) once j's all-but-one OT corrections arrive in round 3.
      const choices = this.rng(32);
      const baseOt = this.decodeFrom(j, 'base-OT sender message', () => {
        try {
          return baseOtReceive(this.rng, this.baseOtSid(j, this.index), inbox.direct.get(j)!, choices);
        } catch (e) {
          if (e instanceof BaseOtProofError)
            throw new ProtocolAbort('invalid-proof', [j], `party ${j}: ${e.message}`);
          throw e;
        }
      });
      this.baseOtReceived.set(j, { choices, keys: baseOt.keys });
      const zeroSeed = this.rng(32);
      this.zeroContributions.set(j, zeroSeed);
      directs.push({
        to: j,
        payload: encodeRound2Direct({
          share: mod(evaluatePolynomial(this.poly, j) + this.shareOffset),
          zeroSeed,
          baseOt: baseOt.message,
        }),
      });
    }
    // The broadcast carries a digest of each direct message (DESIGN §3 item 4 for direct content):
    // a recipient whose direct message differs from what its sender committed to can blame the
    // sender, instead of discovering a broken pairwise setup or zero-sharing later.
    this.round2 = encodeRound2({
      echo: this.echo1,
      coefficients: this.commitments,
      proof,
      chainCode: this.chainCodeShare,
      salt: this.salt,
      directDigests: directs.map((d) => this.directDigest(this.index, d.to!, d.payload)),
    });
    return [{ to: null, payload: this.round2 }, ...directs];
  }

  private directDigest(from: number, to: number, payload: Uint8Array): Uint8Array {
    return new Transcript('dkls23/dkg/direct')
      .append('sid', this.sid)
      .append('from', from)
      .append('to', to)
      .append('payload', payload)
      .digest();
  }

  private afterRound2(inbox: RoundInbox): Outgoing[] {
    const count = this.old ? this.threshold - 1 : this.threshold;
    const broadcasts = new Map<number, Round2Broadcast>();
    const directs = new Map<number, Round2Direct>();
    for (const j of this.peers) {
      broadcasts.set(
        j,
        this.decodeFrom(j, 'round-2 broadcast', () =>
          decodeRound2(inbox.broadcast.get(j)!, count, !this.old, this.peers.length),
        ),
      );
      directs.set(
        j,
        this.decodeFrom(j, 'round-2 direct message', () => decodeRound2Direct(inbox.direct.get(j)!)),
      );
    }
    // DESIGN §3 item 4: everyone saw the same round-1 broadcasts before any share is used.
    this.checkEchoes(1, this.echo1, new Map([...broadcasts].map(([j, m]) => [j, m.echo])));
    for (const j of this.peers) {
      // j's peers in index order: this party's position among them locates its digest.
      const position = this.parties.filter((q) => q !== j).indexOf(this.index);
      const expected = broadcasts.get(j)!.directDigests[position]!;
      if (!equalBytes(this.directDigest(j, this.index, inbox.direct.get(j)!), expected))
        throw new ProtocolAbort(
          'commitment-mismatch',
          [j],
          `party ${j} sent a direct message it did not broadcast a digest of`,
        );
    }

    let x = evaluatePolynomial(this.poly, this.index);
    const aggregate: Point[] = this.commitments.slice();
    const chainCode = new Transcript('dkls23/dkg/chain-code').append('sid', this.sid);
    for (const p of this.parties) {
      const m = p === this.index ? undefined : broadcasts.get(p)!;
      chainCode.append(`party-${p}`, m ? m.chainCode : this.chainCodeShare);
      if (!m) continue;
      const d = directs.get(p)!;
      // Protocol 9.1 step 3: the reveal must open the round-1 commitment …
      if (
        !equalBytes(this.commitmentOf(p, m.coefficients, m.chainCode, m.salt), this.commitmentsSeen.get(p)!)
      )
        throw new ProtocolAbort(
          'commitment-mismatch',
          [p],
          `party ${p} revealed values it did not commit to`,
        );
      // … the proof of knowledge of a_0 must verify under this session and p's index …
      if (m.proof) {
        const e = this.proofChallenge(p, m.coefficients[0]!, m.proof.K);
        if (!baseMul(m.proof.z).equals(m.proof.K.add(publicMul(m.coefficients[0]!, e))))
          throw new ProtocolAbort(
            'invalid-proof',
            [p],
            `party ${p}: proof of knowledge of its constant term fails`,
          );
      }
      // … and the share must lie on the committed polynomial (Feldman check).
      if (!baseMul(d.share).equals(evaluateCommitments(m.coefficients, this.index, !this.old)))
        throw new ProtocolAbort('invalid-share', [p], `party ${p} sent a share that fails the Feldman check`);
      x = mod(x + d.share);
      for (let l = 0; l < count; l++) aggregate[l] = aggregate[l]!.add(m.coefficients[l]!);
    }

    const peers: PeerSetup[] = [];
    const setupOut: Outgoing[] = [];
    for (const j of this.peers) {
      const receiver = this.decodeFrom(j, 'base-OT receiver message', () =>
        baseOtSenderFinish(this.baseOtSenders.get(j)!, this.baseOtSid(this.index, j), directs.get(j)!.baseOt),
      );
      // SoftSpokenOT setup (ot/punctured.ts): this party, as Bob toward j, turns its base-OT key
      // pairs into four leaves per block and sends j the corrections for its three, plus one test
      // extension under a DKG-only session so j can check the whole setup before it is stored.
      const punctured = puncturedSend(this.rng, receiver.keys0, receiver.keys1);
      const test = otExtReceive(
        { leaves: punctured.leaves },
        this.setupCheckSid(j, this.index),
        this.rng(XI / 8),
        this.rng,
      );
      setupOut.push({
        to: j,
        payload: encodeRound3Direct({ corrections: punctured.message, test: test.message }),
      });
      const lo = Math.min(this.index, j);
      const mine = this.zeroContributions.get(j)!;
      const theirs = directs.get(j)!.zeroSeed;
      const zeroSeed = new Transcript('dkls23/dkg/zero-seed')
        .append('sid', this.sid)
        .append('low', lo)
        .append('high', Math.max(this.index, j))
        .append('from-low', lo === this.index ? mine : theirs)
        .append('from-high', lo === this.index ? theirs : mine)
        .digest();
      peers.push({
        peer: j,
        usable: true,
        zeroSeed,
        sender: { delta: new Uint8Array(32), leaves: [] }, // completed in round 3
        receiver: { leaves: punctured.leaves },
      });
    }

    let pk: Point;
    let publicShares: Point[];
    let code: Uint8Array;
    if (this.old) {
      x = mod(x + this.old.x);
      pk = P.fromBytes(this.old.groupPoint);
      publicShares = this.old.publicShares.map((X, k) => X.add(evaluateCommitments(aggregate, k + 1, false)));
      code = this.old.chainCode;
    } else {
      pk = aggregate[0]!;
      publicShares = Array.from({ length: this.n }, (_, k) => evaluateCommitments(aggregate, k + 1, true));
      code = chainCode.digest();
    }
    if (pk.is0() || publicShares.some((X) => X.is0()))
      throw new ProtocolAbort('invalid-share', [], 'the group key or a public share is the identity');
    if (!baseMul(x).equals(publicShares[this.index - 1]!))
      throw new ProtocolAbort('internal-error', [], 'own share does not match its public share');
    const confirmation = new Transcript('dkls23/dkg/confirm')
      .append('sid', this.sid)
      .append('pk', pointBytes(pk))
      .append('chainCode', code)
      .appendList('publicShares', publicShares.map(pointBytes))
      .digest();
    this.pending = { x, pk, chainCode: code, publicShares, peers, confirmation };
    return [
      { to: null, payload: encodeRound3({ echo: this.broadcastDigest(2, this.round2), confirmation }) },
      ...setupOut,
    ];
  }

  private afterRound3(inbox: RoundInbox): void {
    const pending = this.pending!;
    const echo2 = this.broadcastDigest(2, this.round2);
    const confirmations = new Map<number, Uint8Array>();
    const echoes = new Map<number, Uint8Array>();
    for (const j of this.peers) {
      const m = this.decodeFrom(j, 'round-3 broadcast', () => decodeRound3(inbox.broadcast.get(j)!));
      echoes.set(j, m.echo);
      confirmations.set(j, m.confirmation);
    }
    this.checkEchoes(2, echo2, echoes);
    // This party as Alice toward each peer: derive Δ and the leaves, then check the peer's test
    // extension — a Bob with inconsistent corrections is caught here, before the setup is stored.
    for (const p of pending.peers) {
      const j = p.peer;
      const d = this.decodeFrom(j, 'round-3 direct message', () => decodeRound3Direct(inbox.direct.get(j)!));
      const mine = this.baseOtReceived.get(j)!;
      p.sender = puncturedReceive(mine.choices, mine.keys, d.corrections);
      try {
        otExtSend(p.sender, this.setupCheckSid(this.index, j), d.test);
      } catch (e) {
        if (e instanceof OtCheckError)
          throw new ProtocolAbort(
            'ot-check-failed',
            [j],
            `party ${j}: pairwise OT setup fails its test extension`,
            {
              banned: [j],
            },
          );
        throw e;
      }
    }
    // Every party confirms the same public key, chain code and public shares.
    for (const [j, c] of confirmations)
      if (!equalBytes(c, pending.confirmation))
        throw new ProtocolAbort(
          'inconsistent-result',
          [j],
          `party ${j} computed a different key or chain code`,
        );
    const setup = encodeSetup(pending.peers);
    const secretMaterial = new Uint8Array(32 + setup.length);
    secretMaterial.set(scalarBytes(pending.x));
    secretMaterial.set(setup, 32);
    const pk = pointBytes(pending.pk);
    let share: KeyShare;
    try {
      share = new KeyShare({
        scheme: 'ecdsa-secp256k1',
        index: this.index,
        threshold: this.threshold,
        parties: this.n,
        keyId: this.old ? this.old.keyId : this.sid,
        publicKey: pk,
        groupPoint: pk,
        chainCode: pending.chainCode,
        publicShares: pending.publicShares.map(pointBytes),
        publicMaterial: encodePublicMaterial(this.sid),
        secretMaterial,
      });
    } catch (e) {
      if (e instanceof DecodeError) throw new ProtocolAbort('internal-error', [], describeError(e));
      throw e;
    }
    secretMaterial.fill(0);
    this.finish(share);
  }
}
