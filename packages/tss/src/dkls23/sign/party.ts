// DKLs23 signing parties on the shared round contract: the full three-round signer (Protocol 3.6),
// the two-round presigner and the one-round finisher of a presignature.
import { UsageError } from '../../errors.ts';
import { type Outgoing, type RoundInbox, RoundParty } from '../../party.ts';
import type { Rng } from '../../rng.ts';
import { Presignature } from '../presign.ts';
import { inspectSymbol, redactedSummary } from '../redact.ts';
import { assertPeersUsable, type SignContext } from './context.ts';
import type { RoundHost } from './host.ts';
import { encodeSignRound3 } from './messages.ts';
import { type Round1State, type SignFaults, signRound1 } from './round1.ts';
import { type Round2State, signRound2 } from './round2.ts';
import { combineSignature, onlineShare, type PresignatureData, signRound3 } from './round3.ts';

function checkDigest(message: Uint8Array): Uint8Array {
  if (!(message instanceof Uint8Array) || message.length !== 32)
    throw new UsageError('message must be a 32-byte digest (hash it first)');
  return Uint8Array.from(message);
}

abstract class SigningRounds<T> extends RoundParty<T> {
  toJSON(): Record<string, unknown> {
    return { type: this.constructor.name, index: this.index, session: this.session, secret: '<redacted>' };
  }

  [inspectSymbol](): string {
    return redactedSummary(this.constructor.name, this.index, this.session);
  }

  protected readonly host: RoundHost = {
    index: this.index,
    peers: this.peers,
    decode: (from, field, fn) => this.decodeFrom(from, field, fn),
    digest: (round, own) => this.broadcastDigest(round, own),
    echoes: (round, mine, echoes) => this.checkEchoes(round, mine, echoes),
  };
}

/** Rounds 1–2 shared by the signer and the presigner. */
class Presigning {
  private r1: Round1State | undefined;
  private r2: Round2State | undefined;
  constructor(
    private readonly ctx: SignContext,
    private readonly rng: Rng,
    private readonly faults: SignFaults,
  ) {}
  begin(): Outgoing[] {
    assertPeersUsable(this.ctx);
    const { state, out } = signRound1(this.ctx, this.rng, this.faults);
    this.r1 = state;
    return out;
  }
  round1(inbox: RoundInbox, host: RoundHost): Outgoing[] {
    assertPeersUsable(this.ctx);
    const { state, out } = signRound2(this.r1!, inbox, host);
    this.r1 = undefined;
    this.r2 = state;
    return out;
  }
  round2(inbox: RoundInbox, host: RoundHost): PresignatureData {
    assertPeersUsable(this.ctx);
    const data = signRound3(this.r2!, inbox, host);
    this.r2 = undefined;
    return data;
  }
}

export class SignParty extends SigningRounds<Uint8Array> {
  private readonly presigning: Presigning;
  private readonly digestBytes: Uint8Array;
  private online: { data: PresignatureData; own: { u: bigint; w: bigint } } | undefined;

  constructor(ctx: SignContext, message: Uint8Array, rng: Rng, faults: SignFaults = {}) {
    super({
      session: ctx.session,
      index: ctx.share.index,
      parties: ctx.signers,
      rounds: ['both', 'both', 'broadcast'],
    });
    this.digestBytes = checkDigest(message);
    this.presigning = new Presigning(ctx, rng, faults);
  }

  protected begin(): Outgoing[] {
    return this.presigning.begin();
  }

  protected finishRound(round: number, inbox: RoundInbox): Outgoing[] {
    if (round === 1) return this.presigning.round1(inbox, this.host);
    if (round === 2) {
      const data = this.presigning.round2(inbox, this.host);
      // Round 3: the message enters only now (DKLs23 Protocol 3.6, step 9).
      const own = onlineShare(data, this.digestBytes);
      this.online = { data, own };
      return [{ to: null, payload: encodeSignRound3({ echo: data.echo2, ...own }) }];
    }
    const { data, own } = this.online!;
    this.online = undefined;
    this.finish(combineSignature(data, this.digestBytes, own, inbox, this.host));
    return [];
  }
}

export class PresignParty extends SigningRounds<Presignature> {
  private readonly presigning: Presigning;

  constructor(ctx: SignContext, rng: Rng, faults: SignFaults = {}) {
    super({ session: ctx.session, index: ctx.share.index, parties: ctx.signers, rounds: ['both', 'both'] });
    this.presigning = new Presigning(ctx, rng, faults);
  }

  protected begin(): Outgoing[] {
    return this.presigning.begin();
  }

  protected finishRound(round: number, inbox: RoundInbox): Outgoing[] {
    if (round === 1) return this.presigning.round1(inbox, this.host);
    this.finish(new Presignature(this.presigning.round2(inbox, this.host)));
    return [];
  }
}

/** One online round completing a presignature; the presignature is consumed on construction. */
export class FinishPresignedParty extends SigningRounds<Uint8Array> {
  private readonly data: PresignatureData;
  private readonly digestBytes: Uint8Array;
  private readonly own: { u: bigint; w: bigint };

  constructor(presignature: Presignature, message: Uint8Array, path: string) {
    if (!(presignature instanceof Presignature)) throw new UsageError('expected a Presignature');
    const digest = checkDigest(message);
    const data = presignature.consume(path);
    super({
      session: data.ctx.session,
      index: data.ctx.share.index,
      parties: data.ctx.signers,
      rounds: ['broadcast'],
    });
    this.data = data;
    this.digestBytes = digest;
    this.own = onlineShare(data, digest);
  }

  protected begin(): Outgoing[] {
    assertPeersUsable(this.data.ctx);
    return [{ to: null, payload: encodeSignRound3({ echo: this.data.echo2, ...this.own }) }];
  }

  protected finishRound(_round: number, inbox: RoundInbox): Outgoing[] {
    this.finish(combineSignature(this.data, this.digestBytes, this.own, inbox, this.host));
    return [];
  }
}
