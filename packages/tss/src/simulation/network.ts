// In-process network for the simulator: every party is its own state machine and every message is
// encoded, offered to the tamper hook, decoded and only then delivered, exactly as a node would
// receive it. The channel's sender is treated as authenticated (a node verifies the envelope
// signature); a decoded `from` that disagrees with it is blamed on the channel's sender.

import { decodeWire, encodeWire, type WireMessage } from '../codec/wire.ts';
import { describeError, ProtocolAbort } from '../errors.ts';
import type { Party } from '../party.ts';

export type InFlight = {
  /** Authenticated sender of the channel. */
  from: number;
  /** The party this copy is being delivered to (broadcasts are delivered one copy per recipient). */
  recipient: number;
  round: number;
  broadcast: boolean;
};

/**
 * Receives every encoded message in flight (one call per recipient copy) and returns it, a
 * modified copy, or null to drop it.
 */
export type Tamper = (message: Uint8Array, info: InFlight) => Uint8Array | null;

export type NetworkStats = { messages: number; bytes: number };

/** Bound on deliveries, so a buggy or hostile party can never make the loop run forever. */
const MAX_DELIVERIES = 1_000_000;

export function runParties<T>(
  parties: ReadonlyArray<Party<T>>,
  opts?: { tamper?: Tamper; stats?: NetworkStats },
): T[] {
  const byIndex = new Map(parties.map((p) => [p.index, p]));
  const indices = parties.map((p) => p.index);
  const queue: Array<{ from: number; recipient: number; bytes: Uint8Array }> = [];

  const send = (messages: WireMessage[]) => {
    for (const m of messages) {
      const encoded = encodeWire(m);
      const recipients = m.to === null ? indices.filter((i) => i !== m.from) : [m.to];
      for (const recipient of recipients) {
        const info: InFlight = { from: m.from, recipient, round: m.round, broadcast: m.to === null };
        const bytes = opts?.tamper ? opts.tamper(Uint8Array.from(encoded), info) : encoded;
        if (bytes === null) continue;
        if (opts?.stats) {
          opts.stats.messages++;
          opts.stats.bytes += bytes.length;
        }
        queue.push({ from: m.from, recipient, bytes });
      }
    }
  };

  for (const p of parties) send(p.start());
  let deliveries = 0;
  while (queue.length > 0) {
    if (++deliveries > MAX_DELIVERIES) throw new ProtocolAbort('timeout', [], 'delivery bound exceeded');
    const { from, recipient, bytes } = queue.shift()!;
    const target = byIndex.get(recipient);
    if (!target) continue;
    let msg: WireMessage;
    try {
      msg = decodeWire(bytes, { parties: indices });
    } catch (e) {
      throw new ProtocolAbort(
        'malformed-message',
        [from],
        `message from party ${from}: ${describeError(e)}`,
        {
          cause: e,
        },
      );
    }
    if (msg.from !== from)
      throw new ProtocolAbort(
        'unexpected-message',
        [from],
        `party ${from} sent a message claiming to be from ${msg.from}`,
      );
    if (msg.to !== null && msg.to !== recipient)
      throw new ProtocolAbort(
        'unexpected-message',
        [from],
        `party ${from} sent party ${recipient} a message for ${msg.to}`,
      );
    send(target.receive(msg));
  }
  const stuck = parties.filter((p) => !p.done);
  if (stuck.length > 0) {
    // Blame only peers that moved past the round they were awaited in: they did send (or should have
    // sent) the message; a peer still stuck in that round is itself blocked by someone else.
    const missing = [
      ...new Set(
        stuck.flatMap((p) =>
          p.waitingFor().filter((q) => {
            const peer = byIndex.get(q);
            return !peer || peer.done || peer.round > p.round;
          }),
        ),
      ),
    ];
    throw new ProtocolAbort(
      'timeout',
      missing,
      `no message arrived from part${missing.length === 1 ? 'y' : 'ies'} ${missing.join(', ')}`,
    );
  }
  return parties.map((p) => p.result());
}
