// The party model (DESIGN §3): each protocol participant is a state machine that turns incoming
// messages into outgoing ones. `RoundParty` is the one round contract every protocol here uses:
// messages are checked on arrival (session, sender, round, recipient, duplicates) without touching
// protocol state, buffered until the round is complete, then the round is finalised all at once.
import { DecodeError, equalBytes } from './codec/bytes.ts';
import type { WireMessage } from './codec/wire.ts';
import { describeError, ProtocolAbort } from './errors.ts';
import { Transcript } from './transcript.ts';

export type { WireMessage } from './codec/wire.ts';

export interface Party<T> {
  /** This party's 1-based index. */
  readonly index: number;
  /** True once `result()` is available. */
  readonly done: boolean;
  /** First messages; call once. */
  start(): WireMessage[];
  /** Feeds one authenticated message; returns the messages it causes. Throws ProtocolAbort. */
  receive(msg: WireMessage): WireMessage[];
  /** The protocol output; throws if not done. */
  result(): T;
  /** Parties whose messages for the current round have not arrived (for timeouts). */
  waitingFor(): number[];
  /** The round whose messages this party is collecting (0 before start). */
  readonly round: number;
}

/** What a party expects from each peer in one round. */
export type RoundKind = 'broadcast' | 'direct' | 'both';

/** Messages received in one round, by sender. */
export type RoundInbox = {
  broadcast: Map<number, Uint8Array>;
  direct: Map<number, Uint8Array>;
};

export type Outgoing = { to: number | null; payload: Uint8Array };

export type RoundPartyOptions = {
  session: string;
  index: number;
  /** Every participant of this run, including this party; sorted, unique. */
  parties: readonly number[];
  /** Kind of message expected in round 1, 2, …; its length is the number of rounds. */
  rounds: readonly RoundKind[];
};

export abstract class RoundParty<T> implements Party<T> {
  readonly session: string;
  readonly index: number;
  readonly parties: readonly number[];
  readonly peers: readonly number[];
  private readonly rounds: readonly RoundKind[];
  private readonly inboxes: RoundInbox[];
  private current = 0; // 0 before start(); then the round whose messages we are collecting
  private output: { value: T } | undefined;
  private failure: ProtocolAbort | undefined;

  protected constructor(opts: RoundPartyOptions) {
    this.session = opts.session;
    this.index = opts.index;
    this.parties = opts.parties;
    this.peers = opts.parties.filter((p) => p !== opts.index);
    this.rounds = opts.rounds;
    this.inboxes = opts.rounds.map(() => ({ broadcast: new Map(), direct: new Map() }));
  }

  /** Produces round-1 messages. */
  protected abstract begin(): Outgoing[];
  /** Called once every message of `round` has arrived; returns round+1 messages or calls finish(). */
  protected abstract finishRound(round: number, inbox: RoundInbox): Outgoing[];

  get done(): boolean {
    return this.output !== undefined;
  }

  get round(): number {
    return this.current;
  }

  result(): T {
    if (this.failure) throw this.failure;
    if (!this.output) throw new Error(`party ${this.index}: protocol not finished`);
    return this.output.value;
  }

  start(): WireMessage[] {
    if (this.current !== 0) throw new Error(`party ${this.index}: start() called twice`);
    this.current = 1;
    return this.guard(() => this.wrap(1, this.begin()));
  }

  receive(msg: WireMessage): WireMessage[] {
    if (this.failure) throw this.failure;
    if (this.current === 0) throw new Error(`party ${this.index}: receive() before start()`);
    return this.guard(() => {
      this.accept(msg);
      const out: WireMessage[] = [];
      while (!this.done && this.current <= this.rounds.length && this.roundComplete(this.current)) {
        const round = this.current;
        const next = this.finishRound(round, this.inboxes[round - 1]!);
        this.current++;
        out.push(...this.wrap(this.current, next));
      }
      return out;
    });
  }

  waitingFor(): number[] {
    if (this.done || this.failure || this.current === 0 || this.current > this.rounds.length) return [];
    const kind = this.rounds[this.current - 1]!;
    const inbox = this.inboxes[this.current - 1]!;
    return this.peers.filter(
      (p) => (kind !== 'direct' && !inbox.broadcast.has(p)) || (kind !== 'broadcast' && !inbox.direct.has(p)),
    );
  }

  protected finish(value: T): void {
    this.output = { value };
  }

  /** Runs a payload decoder; any decoding failure is blamed on `from`. */
  protected decodeFrom<R>(from: number, field: string, decode: () => R): R {
    try {
      return decode();
    } catch (e) {
      if (e instanceof ProtocolAbort) throw e;
      throw new ProtocolAbort(
        'malformed-message',
        [from],
        `${field} from party ${from}: ${describeError(e)}`,
        {
          cause: e,
        },
      );
    }
  }

  /**
   * Echo digest of one round's broadcasts as this party saw them (DESIGN §3 item 4). Parties put it
   * in their next message; a mismatch means someone equivocated.
   */
  protected broadcastDigest(round: number, own: Uint8Array): Uint8Array {
    const inbox = this.inboxes[round - 1]!;
    const t = new Transcript('echo').append('session', this.session).append('round', round);
    for (const p of this.parties) t.append(`party-${p}`, p === this.index ? own : inbox.broadcast.get(p)!);
    return t.digest();
  }

  /** Compares the echo each peer sent with ours; equivocation cannot be blamed from echoes alone. */
  protected checkEchoes(round: number, mine: Uint8Array, echoes: Map<number, Uint8Array>): void {
    for (const [from, echo] of echoes) {
      if (!equalBytes(echo, mine))
        throw new ProtocolAbort(
          'broadcast-equivocation',
          [],
          `party ${from} saw different round-${round} broadcasts than party ${this.index}`,
        );
    }
  }

  private accept(msg: WireMessage): void {
    const { from } = msg;
    if (msg.session !== this.session)
      throw new ProtocolAbort(
        'wrong-session',
        [from],
        `message from party ${from} belongs to another session`,
      );
    if (!this.peers.includes(from))
      throw new ProtocolAbort(
        'unexpected-message',
        [],
        `party ${from} is not a peer of party ${this.index} here`,
      );
    if (!Number.isInteger(msg.round) || msg.round < 1 || msg.round > this.rounds.length)
      throw new ProtocolAbort('unexpected-message', [from], `party ${from} sent unknown round ${msg.round}`);
    const kind = this.rounds[msg.round - 1]!;
    const slot = msg.to === null ? 'broadcast' : 'direct';
    if (msg.to !== null && msg.to !== this.index)
      throw new ProtocolAbort(
        'unexpected-message',
        [from],
        `party ${from} sent a message meant for ${msg.to}`,
      );
    if ((slot === 'broadcast' && kind === 'direct') || (slot === 'direct' && kind === 'broadcast'))
      throw new ProtocolAbort(
        'unexpected-message',
        [from],
        `party ${from} sent a ${slot} message in round ${msg.round}, which expects ${kind}`,
      );
    const box = this.inboxes[msg.round - 1]![slot];
    const previous = box.get(from);
    if (previous !== undefined) {
      // The transport may deliver the same message twice; a different second message is an attack.
      if (equalBytes(previous, msg.payload)) return;
      throw new ProtocolAbort(
        'duplicate-message',
        [from],
        `party ${from} sent two different round-${msg.round} messages`,
      );
    }
    if (msg.round < this.current)
      throw new ProtocolAbort(
        'unexpected-message',
        [from],
        `party ${from} sent round ${msg.round} after it closed`,
      );
    box.set(from, Uint8Array.from(msg.payload));
  }

  private roundComplete(round: number): boolean {
    const kind = this.rounds[round - 1]!;
    const inbox = this.inboxes[round - 1]!;
    return this.peers.every(
      (p) => (kind === 'direct' || inbox.broadcast.has(p)) && (kind === 'broadcast' || inbox.direct.has(p)),
    );
  }

  private wrap(round: number, out: Outgoing[]): WireMessage[] {
    return out.map((o) => ({ session: this.session, round, from: this.index, to: o.to, payload: o.payload }));
  }

  private guard(fn: () => WireMessage[]): WireMessage[] {
    try {
      return fn();
    } catch (e) {
      this.failure =
        e instanceof ProtocolAbort
          ? e
          : e instanceof DecodeError
            ? new ProtocolAbort('malformed-message', [], describeError(e), { cause: e })
            : new ProtocolAbort('internal-error', [], `party ${this.index}: ${describeError(e)}`, {
                cause: e,
              });
      throw this.failure;
    }
  }
}
