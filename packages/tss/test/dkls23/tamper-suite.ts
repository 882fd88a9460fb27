// The malicious-party suite over every message of every signing round (DESIGN §9): each in-flight
// copy is flipped, dropped, swapped for another party's message of the same round, or replaced by
// the same message of another session. Every case must end in a ProtocolAbort that blames at most
// the party whose message was attacked — never in a signature.
import { afterEach, describe, expect, it } from 'vitest';
import { decodeWire, encodeWire } from '../../src/codec/wire.ts';
import { __TESTS, ecdsaSignParties } from '../../src/dkls23/index.ts';
import type { KeyShare } from '../../src/keyshare.ts';
import { seededRng } from '../../src/rng.ts';
import { type InFlight, runParties, type Tamper } from '../../src/simulation/network.ts';
import { abortOf } from './fixtures.ts';

type Slot = { round: number; from: number; recipient: number; broadcast: boolean };
const digest = new Uint8Array(32).fill(0x17);

function record(signers: KeyShare[], session: string): Map<string, Uint8Array> {
  const seen = new Map<string, Uint8Array>();
  runParties(ecdsaSignParties({ session, shares: signers, message: digest, rng: seededRng(session) }), {
    tamper: (bytes, info) => {
      seen.set(key(info), decodeWire(bytes).payload);
      return bytes;
    },
  });
  return seen;
}

function key(s: Slot | InFlight): string {
  return `${s.round}/${s.from}/${s.recipient}/${s.broadcast ? 'b' : 'd'}`;
}

function parse(k: string): Slot {
  const [round, from, recipient, kind] = k.split('/');
  return { round: Number(round), from: Number(from), recipient: Number(recipient), broadcast: kind === 'b' };
}

function attack(
  signers: KeyShare[],
  session: string,
  slot: Slot,
  edit: (payload: Uint8Array) => Uint8Array | null,
) {
  const tamper: Tamper = (bytes, info) => {
    if (key(info) !== key(slot)) return bytes;
    const msg = decodeWire(bytes);
    const payload = edit(Uint8Array.from(msg.payload));
    return payload === null ? null : encodeWire({ ...msg, payload });
  };
  return abortOf(() =>
    runParties(ecdsaSignParties({ session, shares: signers, message: digest, rng: seededRng(session) }), {
      tamper,
    }),
  );
}

/** Defines the tamper suite for one signing set (called by the signing test files). */
export function signTamperSuite(label: string, shares: KeyShare[]): void {
  describe(`DKLs23 signing tamper suite (${label})`, () => {
    // Runs are deterministic given session and seed, so the attacked run is this run up to the attack.
    const session = `tamper-${label}`;
    const honest = record(shares, session);
    const replaySource = record(shares, `tamper-${label}-elsewhere`);
    const slots = [...honest.keys()].map(parse);
    afterEach(() => __TESTS.clearBans());

    it('covers every round and message kind', () => {
      expect(new Set(slots.map((s) => `${s.round}${s.broadcast}`))).toEqual(
        new Set(['1true', '1false', '2true', '2false', '3true']),
      );
    });

    for (const slot of slots) {
      const name = `round ${slot.round} ${slot.broadcast ? 'broadcast' : 'direct'} ${slot.from}→${slot.recipient}`;

      it(`${name}: a flipped byte aborts`, () => {
        const abort = attack(shares, session, slot, (p) => {
          p[p.length >> 1]! ^= 0x10;
          return p;
        });
        expect([[], [slot.from]], abort.message).toContainEqual(abort.culprits);
      });

      it(`${name}: a dropped message times out naming the sender`, () => {
        const abort = attack(shares, session, slot, () => null);
        expect(abort.reason).toBe('timeout');
        expect(abort.culprits).toContain(slot.from);
      });

      it(`${name}: another party's message in its place aborts`, () => {
        // Another sender's message of the same round and kind from this very run; with two signers
        // the only other sender is the recipient, so its message to the sender is reflected back.
        const other = slots.find(
          (s) =>
            s.round === slot.round &&
            s.broadcast === slot.broadcast &&
            s.from !== slot.from &&
            s.from !== slot.recipient,
        ) ?? { ...slot, from: slot.recipient, recipient: slot.from };
        const substitute = honest.get(key(other))!;
        expect(substitute).toBeDefined();
        const abort = attack(shares, session, slot, () => Uint8Array.from(substitute));
        expect([[], [slot.from]], abort.message).toContainEqual(abort.culprits);
      });

      it(`${name}: the same message replayed from another session aborts`, () => {
        const abort = attack(shares, session, slot, () => Uint8Array.from(replaySource.get(key(slot))!));
        expect([[], [slot.from]], abort.message).toContainEqual(abort.culprits);
      });
    }
  });
}
