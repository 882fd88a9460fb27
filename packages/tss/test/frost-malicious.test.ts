// Malicious-party suite for FROST key generation and signing: every message of every round is
// tampered with in turn (bit flips in header and payload, another party's message swapped in, a
// message replayed from another session, a dropped message). Every run must end in ProtocolAbort,
// never return shares or a signature, and never blame a party other than the tampering sender.
import { describe, expect, it } from 'vitest';
import { decodeWire, encodeWire, type KeyShare, ProtocolAbort, type SchemeId } from '../src/index.ts';
import { type InFlight, simulateKeygen, simulateSign, type Tamper } from '../src/simulator.ts';

type Recorded = Map<string, Uint8Array>;
const key = (round: number, from: number, recipient: number) => `${round}/${from}/${recipient}`;

/** Records every message copy of an honest run (deterministic for a given seed). */
function recorder(): { tamper: Tamper; log: Recorded } {
  const log: Recorded = new Map();
  return {
    log,
    tamper: (bytes, info) => {
      log.set(key(info.round, info.from, info.recipient), Uint8Array.from(bytes));
      return bytes;
    },
  };
}

type Attack = {
  name: string;
  /** Whether the protocol can always name the sender (otherwise it may abort without blame). */
  blames: boolean | ((round: number) => boolean);
  apply: (
    bytes: Uint8Array,
    info: InFlight,
    ctx: { honest: Recorded; foreign: Recorded; parties: number[] },
  ) => Uint8Array | null;
};

const otherSender = (info: InFlight, parties: number[]) =>
  parties.find((p) => p !== info.from && p !== info.recipient) ?? parties.find((p) => p !== info.from)!;

function attacks(blameContent: (round: number) => boolean): Attack[] {
  const flipPayload = (at: (len: number) => number) => (bytes: Uint8Array) => {
    const msg = decodeWire(bytes);
    const payload = Uint8Array.from(msg.payload);
    payload[at(payload.length)]! ^= 0x01;
    return encodeWire({ ...msg, payload });
  };
  return [
    { name: 'flip first payload byte', blames: blameContent, apply: flipPayload(() => 0) },
    { name: 'flip last payload byte', blames: blameContent, apply: flipPayload((n) => n - 1) },
    { name: 'flip middle payload byte', blames: blameContent, apply: flipPayload((n) => n >> 1) },
    {
      name: 'flip a header byte (session)',
      blames: true,
      apply: (bytes) => {
        const out = Uint8Array.from(bytes);
        out[6]! ^= 0x01; // inside the session string
        return out;
      },
    },
    {
      name: 'truncate the message',
      blames: true,
      apply: (bytes) => bytes.subarray(0, bytes.length - 1),
    },
    {
      name: "swap in another party's whole message",
      blames: true,
      apply: (bytes, info, { honest, parties }) => {
        const other = otherSender(info, parties);
        return (
          honest.get(key(info.round, other, info.recipient)) ??
          honest.get(key(info.round, other, info.from)) ??
          bytes
        );
      },
    },
    {
      name: "swap in another party's payload under the sender's header",
      blames: blameContent,
      apply: (bytes, info, { honest, parties }) => {
        const other = otherSender(info, parties);
        const donor =
          honest.get(key(info.round, other, info.recipient)) ?? honest.get(key(info.round, other, info.from));
        return encodeWire({ ...decodeWire(bytes), payload: decodeWire(donor!).payload });
      },
    },
    {
      name: 'replay the message from another session',
      blames: true,
      apply: (_bytes, info, { foreign }) => foreign.get(key(info.round, info.from, info.recipient))!,
    },
    {
      name: "replay another session's payload under this session's header",
      blames: blameContent,
      apply: (bytes, info, { foreign }) =>
        encodeWire({
          ...decodeWire(bytes),
          payload: decodeWire(foreign.get(key(info.round, info.from, info.recipient))!).payload,
        }),
    },
    { name: 'drop the message', blames: true, apply: () => null },
  ];
}

async function expectTamperedRunAborts(
  run: (tamper: Tamper) => Promise<unknown>,
  target: { round: number; from: number; recipient: number },
  attack: Attack,
  ctx: { honest: Recorded; foreign: Recorded; parties: number[] },
): Promise<'aborted' | 'unchanged'> {
  let hits = 0;
  let changed = false;
  const tamper: Tamper = (bytes, info) => {
    if (info.round !== target.round || info.from !== target.from || info.recipient !== target.recipient)
      return bytes;
    hits++;
    const out = attack.apply(Uint8Array.from(bytes), info, ctx);
    if (out === null || !equalBytes(out, bytes)) changed = true;
    return out;
  };
  let error: unknown;
  let result: unknown;
  try {
    result = await run(tamper);
  } catch (e) {
    error = e;
  }
  const label = `${attack.name}, round ${target.round}, ${target.from}→${target.recipient}`;
  expect(hits, `${label}: the targeted message was sent`).toBeGreaterThan(0);
  if (!changed) {
    // Echo and confirmation rounds carry the same bytes from every honest party: swapping one for
    // another changes nothing, and the run must then succeed.
    expect(error, `${label}: identical bytes must be accepted`).toBeUndefined();
    return 'unchanged';
  }
  expect(result, `${label}: a tampered run must never produce a result`).toBeUndefined();
  expect(error, label).toBeInstanceOf(ProtocolAbort);
  const abort = error as ProtocolAbort;
  // Never blame an honest party.
  for (const c of abort.culprits) expect(c, `${label}: ${abort.message}`).toBe(target.from);
  const mustBlame = typeof attack.blames === 'function' ? attack.blames(target.round) : attack.blames;
  if (mustBlame) expect(abort.culprits, `${label}: ${abort.message}`).toEqual([target.from]);
  return 'aborted';
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const SCHEMES = ['schnorr-secp256k1-tr', 'eddsa-ed25519'] as const satisfies readonly SchemeId[];

describe.each(SCHEMES)('FROST %s under attack', (scheme) => {
  // Key generation rounds: 1 contribution, 2 commitment + echo, 3 opening + echo, 4 Feldman share, 5 confirmation.
  // Rounds 1–3 content changes surface as equivocation (no blame possible from echoes) or as a bad opening.
  it('key generation (2-of-3): every message of every round, every attack → abort', async () => {
    const seed = `tamper-keygen-${scheme}`;
    const honestRec = recorder();
    await simulateKeygen({ scheme, threshold: 2, parties: 3, seed, tamper: honestRec.tamper });
    const foreignRec = recorder();
    await simulateKeygen({
      scheme,
      threshold: 2,
      parties: 3,
      seed: `${seed}-other`,
      tamper: foreignRec.tamper,
    });
    const ctx = { honest: honestRec.log, foreign: foreignRec.log, parties: [1, 2, 3] };
    const list = attacks((round) => round >= 4);
    let aborted = 0;
    for (const round of [1, 2, 3, 4, 5])
      for (const from of [1, 2, 3]) {
        const recipient = (from % 3) + 1;
        for (const attack of list) {
          const outcome = await expectTamperedRunAborts(
            (tamper) => simulateKeygen({ scheme, threshold: 2, parties: 3, seed, tamper }),
            { round, from, recipient },
            attack,
            ctx,
          );
          if (outcome === 'aborted') aborted++;
        }
      }
    // Only the payload swap in the confirmation round (identical bytes) leaves a message unchanged.
    expect(aborted).toBe(5 * 3 * list.length - 3);
  });

  // Signing rounds: 1 nonce commitments, 2 session-id echo, 3 signature share.
  it.each([
    [2, 3, [1, 3]],
    [3, 5, [2, 4, 5]],
  ])(
    'signing (%i-of-%i, signers %j): every message of every round, every attack → abort',
    async (t, n, signers) => {
      const shares: KeyShare[] = await simulateKeygen({
        scheme,
        threshold: t,
        parties: n,
        seed: `tamper-sign-${scheme}`,
      });
      const subset = (signers as number[]).map((i) => shares[i - 1]!);
      const message = new TextEncoder().encode('move 1 BTC to cold storage');
      const seed = `tamper-sign-${scheme}-${t}`;
      const honestRec = recorder();
      await simulateSign({ shares: subset, message, seed, tamper: honestRec.tamper });
      const foreignRec = recorder();
      await simulateSign({ shares: subset, message, seed: `${seed}-other`, tamper: foreignRec.tamper });
      const ctx = { honest: honestRec.log, foreign: foreignRec.log, parties: signers as number[] };
      const list = attacks((round) => round === 3);
      let aborted = 0;
      for (const round of [1, 2, 3])
        for (const from of signers as number[]) {
          const recipient = (signers as number[]).find((p) => p !== from)!;
          for (const attack of list) {
            const outcome = await expectTamperedRunAborts(
              (tamper) => simulateSign({ shares: subset, message, seed, tamper }),
              { round, from, recipient },
              attack,
              ctx,
            );
            if (outcome === 'aborted') aborted++;
          }
        }
      // Only the payload swap in the session-id echo round (identical bytes) leaves a message unchanged.
      expect(aborted).toBe(3 * (signers as number[]).length * list.length - (signers as number[]).length);
    },
  );
});
