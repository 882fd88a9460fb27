// DKLs23 key generation under attack (DESIGN §3 item 3): each check of the DKG is triggered by a
// malicious party and must abort naming it. Offsets follow dkg/messages.ts.
import { describe, expect, it } from 'vitest';
import { decodeWire, encodeWire } from '../../src/codec/wire.ts';
import { __TESTS, ecdsaKeygenParties } from '../../src/dkls23/index.ts';
import { UsageError } from '../../src/errors.ts';
import { seededRng } from '../../src/rng.ts';
import { runParties, type Tamper } from '../../src/simulation/network.ts';
import { abortOf, flipByte, rewrite } from './fixtures.ts';

const T = 2;
const BASE_OT_Z = 33 + 33; // round-1 direct: A ‖ K ‖ z
// round-2 broadcast (keygen): echo(32) ‖ count(1) ‖ t points ‖ K(33) ‖ z(32) ‖ chainCode(32) ‖ salt(32)
const COUNT = 32;
const COEFFICIENTS = 33;
const PROOF_Z = COEFFICIENTS + 33 * T + 33;
const CHAIN_CODE = PROOF_Z + 32;

function keygen(session: string, tamper?: Tamper) {
  return runParties(ecdsaKeygenParties({ session, threshold: T, parties: 3, rng: seededRng(session) }), {
    tamper,
  });
}

const put = (bytes: Uint8Array, offset: number) => (p: Uint8Array) => {
  p.set(bytes, offset);
  return p;
};

describe('DKLs23 key generation checks', () => {
  const cases: Array<{
    name: string;
    round: number;
    broadcast: boolean;
    edit: (p: Uint8Array) => Uint8Array;
    reason: string;
  }> = [
    {
      name: 'a forged base-OT proof of knowledge',
      round: 1,
      broadcast: false,
      edit: flipByte(BASE_OT_Z + 31),
      reason: 'invalid-proof',
    },
    {
      name: 'a context of another key generation',
      round: 1,
      broadcast: true,
      edit: flipByte(0),
      reason: 'wrong-session',
    },
    {
      name: 'one polynomial coefficient too many (exact length t)',
      round: 2,
      broadcast: true,
      edit: (p) => {
        const out = new Uint8Array(p.length + 33);
        out.set(p.subarray(0, COEFFICIENTS + 33 * T));
        out[COUNT] = T + 1;
        out.set(p.subarray(COEFFICIENTS, COEFFICIENTS + 33), COEFFICIENTS + 33 * T);
        out.set(p.subarray(COEFFICIENTS + 33 * T), COEFFICIENTS + 33 * (T + 1));
        return out;
      },
      reason: 'malformed-message',
    },
    {
      name: 'an identity coefficient commitment',
      round: 2,
      broadcast: true,
      edit: put(new Uint8Array(33), COEFFICIENTS),
      reason: 'malformed-message',
    },
    {
      name: 'a reveal that does not open the commitment',
      round: 2,
      broadcast: true,
      edit: flipByte(CHAIN_CODE),
      reason: 'commitment-mismatch',
    },
    {
      name: 'a proof of knowledge of a_0 that fails',
      round: 2,
      broadcast: true,
      edit: flipByte(PROOF_Z + 31),
      reason: 'invalid-proof',
    },
    {
      name: 'a direct message that differs from the digest its sender broadcast',
      round: 2,
      broadcast: false,
      edit: flipByte(31),
      reason: 'commitment-mismatch',
    },
    {
      name: 'a share ≥ q',
      round: 2,
      broadcast: false,
      edit: put(new Uint8Array(32).fill(0xff), 0),
      reason: 'malformed-message',
    },
    {
      name: 'an altered base-OT point (caught by the direct-message digest)',
      round: 2,
      broadcast: false,
      edit: put(new Uint8Array(33).fill(0xff), 64),
      reason: 'commitment-mismatch',
    },
    {
      name: 'a different confirmed key or chain code',
      round: 3,
      broadcast: true,
      edit: flipByte(40),
      reason: 'inconsistent-result',
    },
  ];
  for (const c of cases) {
    it(`aborts on ${c.name}, blaming the sender`, () => {
      const abort = abortOf(() =>
        keygen(
          `dkg-${c.name}`,
          rewrite(
            (i) => i.round === c.round && i.broadcast === c.broadcast && i.from === 2 && i.recipient === 1,
            c.edit,
          ),
        ),
      );
      expect(abort.reason, abort.message).toBe(c.reason);
      expect(abort.culprits).toEqual([2]);
    });
  }

  it('inconsistent all-but-one OT corrections are caught by the test extension and ban the sender', () => {
    // Both corrections of one level change, so the recipient's leaves are wrong whatever it chose.
    const abort = abortOf(() =>
      keygen(
        'dkg-punctured',
        rewrite(
          (i) => i.round === 3 && !i.broadcast && i.from === 2 && i.recipient === 1,
          (p) => flipByte(64)(flipByte(96)(p)),
        ),
      ),
    );
    expect(abort.reason).toBe('ot-check-failed');
    expect(abort.culprits).toEqual([2]);
    expect(abort.banned).toEqual([2]);
  });

  it('a dealer whose share is off its committed polynomial fails the Feldman check (consistently committed)', () => {
    const session = 'dkg-feldman';
    const parties = __TESTS.keygenPartiesWithFaults(
      { session, threshold: T, parties: 3, rng: seededRng(session) },
      new Map([[3, { shareOffset: 1n }]]),
    );
    const abort = abortOf(() => runParties(parties));
    expect(abort.reason).toBe('invalid-share');
    expect(abort.culprits).toEqual([3]);
  });

  it('detects an equivocated round-1 broadcast before using any share', () => {
    const abort = abortOf(() =>
      keygen(
        'dkg-equivocation',
        rewrite((i) => i.round === 1 && i.broadcast && i.from === 2 && i.recipient === 3, flipByte(40)),
      ),
    );
    expect(abort.reason).toBe('broadcast-equivocation');
  });

  it('rejects a round-1 message replayed from another key generation', () => {
    const old: Uint8Array[] = [];
    abortOf(() =>
      keygen('dkg-replay-source', (b, i) => {
        if (i.round === 1 && i.broadcast && i.from === 2 && i.recipient === 1)
          old.push(decodeWire(b).payload);
        return i.round === 2 ? null : b;
      }),
    );
    const abort = abortOf(() =>
      keygen('dkg-replay-target', (b, i) =>
        i.round === 1 && i.broadcast && i.from === 2 && i.recipient === 1
          ? encodeWire({ ...decodeWire(b), payload: old[0]! })
          : b,
      ),
    );
    expect(abort.reason).toBe('wrong-session');
    expect(abort.culprits).toEqual([2]);
  });

  it('a dropped round-3 confirmation times out naming the sender', () => {
    const abort = abortOf(() => keygen('dkg-drop', (b, i) => (i.round === 3 && i.from === 3 ? null : b)));
    expect(abort.reason).toBe('timeout');
    expect(abort.culprits).toEqual([3]);
  });

  it('refuses thresholds outside 2..n', () => {
    expect(() => ecdsaKeygenParties({ session: 's', threshold: 1, parties: 3, rng: seededRng('x') })).toThrow(
      UsageError,
    );
    expect(() => ecdsaKeygenParties({ session: 's', threshold: 4, parties: 3, rng: seededRng('x') })).toThrow(
      UsageError,
    );
  });
});
