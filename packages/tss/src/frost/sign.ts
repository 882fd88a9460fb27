// FROST signing (RFC 9591 §5) with Coffer's session layer around noble's commit / signShare /
// aggregate. Rounds:
//   1. broadcast a random contribution ρ_i and the nonce commitments (D_i, E_i)   (RFC 9591 §5.1)
//   2. broadcast the session id, which hashes every round-1 message, the key, the path and the
//      message: it is the echo that detects equivocation before any secret is used (DESIGN §3 items 1, 4)
//   3. broadcast the signature share z_i (RFC 9591 §5.2); every party aggregates (§5.3); an invalid
//      share names its sender (§5.4)
import type { NonceCommitments, Nonces } from '@noble/curves/abstract/frost.js';
import { ByteReader, ByteWriter } from '../codec/bytes.ts';
import { describeError, ProtocolAbort, UsageError } from '../errors.ts';
import type { KeyShare } from '../keyshare.ts';
import { type Outgoing, type RoundInbox, RoundParty } from '../party.ts';
import type { Rng } from '../rng.ts';
import { Transcript } from '../transcript.ts';
import { FROST_SUITES, type FrostSuite, frostIdentifier, frostPackages, isFrostScheme } from './suite.ts';

export type FrostSignOptions = {
  session: string;
  share: KeyShare;
  /** Indices of every signer, this party included. */
  signers: readonly number[];
  message: Uint8Array;
  path?: string;
  rng: Rng;
};

const CONTRIBUTION_LENGTH = 32;

export class FrostSignParty extends RoundParty<Uint8Array> {
  private readonly suite: FrostSuite;
  private readonly packages: ReturnType<typeof frostPackages>;
  private readonly message: Uint8Array;
  private readonly path: string;
  private readonly keyId: Uint8Array;
  private readonly rng: Rng;
  private contribution: Uint8Array = new Uint8Array(0);
  private nonces: Nonces | undefined;
  private ownRound1: Uint8Array = new Uint8Array(0);
  private commitmentList: NonceCommitments[] = [];
  private sid: Uint8Array = new Uint8Array(0);
  private ownShare: Uint8Array = new Uint8Array(0);

  constructor(opts: FrostSignOptions) {
    const { share } = opts;
    if (!isFrostScheme(share.scheme)) throw new UsageError(`FROST cannot sign with a ${share.scheme} share`);
    const signers = [...opts.signers].sort((a, b) => a - b);
    assertSignerSet(signers, share);
    super({
      session: opts.session,
      index: share.index,
      parties: signers,
      rounds: ['broadcast', 'broadcast', 'broadcast'],
    });
    this.suite = FROST_SUITES[share.scheme];
    this.packages = frostPackages(this.suite, share, opts.path);
    this.message = Uint8Array.from(opts.message);
    this.path = opts.path ?? 'm';
    this.keyId = share.keyId;
    this.rng = opts.rng;
  }

  protected begin(): Outgoing[] {
    this.contribution = this.rng(CONTRIBUTION_LENGTH);
    const { nonces, commitments } = this.suite.frost.commit(this.packages.secret, this.rng);
    this.nonces = nonces;
    this.ownRound1 = new ByteWriter()
      .raw(this.contribution)
      .raw(commitments.hiding)
      .raw(commitments.binding)
      .finish();
    return [{ to: null, payload: this.ownRound1 }];
  }

  protected finishRound(round: number, inbox: RoundInbox): Outgoing[] {
    if (round === 1) return this.afterCommitments(inbox);
    if (round === 2) return this.afterEchoes(inbox);
    return this.afterShares(inbox);
  }

  private afterCommitments(inbox: RoundInbox): Outgoing[] {
    const { group } = this.suite;
    const t = new Transcript('frost/sign/sid')
      .append('scheme', this.suite.scheme)
      .append('session', this.session)
      .append('keyId', this.keyId)
      .append('path', this.path)
      .append('message', this.message);
    this.commitmentList = this.parties.map((p) => {
      const payload = p === this.index ? this.ownRound1 : inbox.broadcast.get(p)!;
      t.append(`round1-${p}`, payload);
      return this.decodeFrom(p, 'round-1 commitments', () => {
        const r = new ByteReader(payload);
        r.raw(CONTRIBUTION_LENGTH, 'contribution');
        const hiding = r.raw(group.pointLength, 'hiding');
        const binding = r.raw(group.pointLength, 'binding');
        r.end('round 1');
        // Points are validated (on curve, not identity, prime order) by noble before any use of the
        // secret share; checkCommitments() names the sender if that validation fails.
        return { identifier: frostIdentifier(this.suite, p), hiding, binding } as NonceCommitments;
      });
    });
    this.sid = t.digest();
    return [{ to: null, payload: this.sid }];
  }

  private afterEchoes(inbox: RoundInbox): Outgoing[] {
    this.checkEchoes(1, this.sid, inbox.broadcast);
    const { frost } = this.suite;
    const { pub, secret } = this.packages;
    // noble zeroes the nonces after use and refuses zeroed nonces: a nonce is never used twice.
    let share: Uint8Array;
    try {
      share = frost.signShare(secret, pub, this.nonces!, this.commitmentList, this.message);
    } catch (e) {
      this.checkCommitments();
      throw e;
    }
    this.nonces = undefined;
    this.ownShare = share;
    return [{ to: null, payload: share }];
  }

  private afterShares(inbox: RoundInbox): Outgoing[] {
    const { frost, group } = this.suite;
    const shares: Record<string, Uint8Array> = {};
    for (const p of this.parties) {
      if (p === this.index) continue;
      const bytes = inbox.broadcast.get(p)!;
      this.decodeFrom(p, 'signature share', () =>
        group.decodeScalar(bytes, 'signatureShare', { allowZero: true }),
      );
      shares[frostIdentifier(this.suite, p)] = bytes;
    }
    shares[frostIdentifier(this.suite, this.index)] = this.ownShare;
    let signature: Uint8Array;
    try {
      signature = frost.aggregate(this.packages.pub, this.commitmentList, this.message, shares);
    } catch (e) {
      const cheaters = ((e as { cheaters?: string[] }).cheaters ?? []).map((id) => this.indexOf(id));
      throw new ProtocolAbort('invalid-signature-share', cheaters, `aggregation failed: ${describeError(e)}`);
    }
    // noble's aggregate() verifies the aggregated signature against the group key before returning it
    // (and names the cheaters when it does not verify), so no unverified signature leaves this party.
    this.finish(signature);
    return [];
  }

  /** Failure path: strict decoding of every nonce commitment, blaming the sender of a bad one. */
  private checkCommitments(): void {
    const { group } = this.suite;
    this.parties.forEach((p, i) => {
      const c = this.commitmentList[i]!;
      this.decodeFrom(p, 'round-1 commitments', () => {
        group.decodePoint(c.hiding, 'hiding');
        group.decodePoint(c.binding, 'binding');
      });
    });
  }

  private indexOf(identifier: string): number {
    const found = this.parties.find((p) => frostIdentifier(this.suite, p) === identifier);
    return found ?? 0;
  }
}

export function assertSignerSet(signers: readonly number[], share: KeyShare): void {
  if (new Set(signers).size !== signers.length) throw new UsageError('signer indices must be unique');
  if (!signers.includes(share.index)) throw new UsageError(`signer set must include party ${share.index}`);
  for (const s of signers)
    if (!Number.isInteger(s) || s < 1 || s > share.parties)
      throw new UsageError(`signer index ${s} is not in 1..${share.parties}`);
  if (signers.length < share.threshold)
    throw new UsageError(`need at least ${share.threshold} signers, got ${signers.length}`);
}
