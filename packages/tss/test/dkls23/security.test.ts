// Malicious-party tests for DKLs23 signing, each named after the attack its check prevents.
import { afterEach, describe, expect, it } from 'vitest';
import { decodeWire, encodeWire } from '../../src/codec/wire.ts';
import {
  __TESTS,
  ecdsaSignParties,
  isPairwiseSetupUsable,
  markPairwiseSetupUnusable,
} from '../../src/dkls23/index.ts';
import { MUL_MESSAGE_BYTES } from '../../src/dkls23/multiplication.ts';
import { OT_EXT_MESSAGE_BYTES } from '../../src/dkls23/ot/extension.ts';
import { N, Point, pointBytes } from '../../src/dkls23/scalar.ts';
import { ProtocolAbort } from '../../src/errors.ts';
import type { KeyShare } from '../../src/keyshare.ts';
import { seededRng } from '../../src/rng.ts';
import { runParties, type Tamper } from '../../src/simulation/network.ts';
import { abortOf, flipByte, keygen, pick, rewrite } from './fixtures.ts';

const digest = new Uint8Array(32).fill(0x42);
const shares = keygen(2, 3, 'security-keygen');
const other = keygen(2, 3, 'security-keygen-other');

function run(signers: KeyShare[], session: string, tamper?: Tamper) {
  return runParties(
    ecdsaSignParties({ session, shares: signers, message: digest, rng: seededRng(session) }),
    { tamper },
  );
}

// Offsets inside the round-2 direct payload: multiplication message, Γ^u, Γ^v, ψ.
const GAMMA_U = MUL_MESSAGE_BYTES;
const GAMMA_V = GAMMA_U + 33;
const PSI = GAMMA_V + 33;
const MUL_GAMMA = MUL_MESSAGE_BYTES - 64; // γ_1 inside the multiplication message

afterEach(() => __TESTS.clearBans());

describe('DKLs23 OT selective-failure attack', () => {
  it('altering one OT-extension check value aborts, bans that peer and marks the setup unusable', () => {
    const signers = pick(shares, [1, 2]);
    const abort = abortOf(() =>
      run(
        signers,
        'ot-sf',
        rewrite(
          (i) => i.round === 1 && !i.broadcast && i.from === 2,
          flipByte(32 + OT_EXT_MESSAGE_BYTES - 5),
        ),
      ),
    );
    expect(abort.reason).toBe('ot-check-failed');
    expect(abort.culprits).toEqual([2]);
    expect(abort.banned).toEqual([2]);
    expect(isPairwiseSetupUsable(shares[0]!, 2)).toBe(false);
    // Every later (or concurrent) session with the banned peer aborts before any message.
    const again = abortOf(() => run(signers, 'ot-sf-again'));
    expect(again.banned).toEqual([2]);
    // The node persists the ban in the stored share.
    __TESTS.clearBans();
    const marked = markPairwiseSetupUnusable(shares[0]!, 2);
    expect(isPairwiseSetupUsable(marked, 2)).toBe(false);
    expect(isPairwiseSetupUsable(marked, 3)).toBe(true);
    expect(() => run([marked, shares[1]!], 'ot-sf-stored')).toThrow(ProtocolAbort);
  });

  it('a session already running with the peer aborts once the peer is banned (concurrent sessions)', () => {
    const signers = pick(shares, [1, 2]);
    const concurrent = ecdsaSignParties({
      session: 'concurrent',
      shares: signers,
      message: digest,
      rng: seededRng('c'),
    });
    const outbox = concurrent.flatMap((p) => p.start());
    abortOf(() =>
      run(
        signers,
        'ot-sf-concurrent',
        rewrite((i) => i.round === 1 && !i.broadcast && i.from === 2, flipByte(100)),
      ),
    );
    const deliver = () => {
      for (const m of outbox)
        for (const p of concurrent)
          if (p.index !== m.from && (m.to === null || m.to === p.index)) p.receive(m);
    };
    const abort = abortOf(deliver);
    expect(abort.banned).toEqual([2]);
  });

  it('a flipped bit of the VOLE corrections (the choice-bit correlation) is caught by the consistency check', () => {
    const abort = abortOf(() =>
      run(
        pick(shares, [1, 3]),
        'ot-u',
        rewrite((i) => i.round === 1 && !i.broadcast && i.from === 3, flipByte(7)),
      ),
    );
    expect(abort.reason).toBe('ot-check-failed');
    expect(abort.culprits).toEqual([3]);
  });
});

describe('DKLs23 multiplication and Γ checks', () => {
  it('tampered multiplication outputs (τ) abort and ban the sender — §5.1 check', () => {
    const abort = abortOf(() =>
      run(
        pick(shares, [1, 2]),
        'mul-tau',
        rewrite((i) => i.round === 2 && !i.broadcast && i.from === 1, flipByte(40)),
      ),
    );
    expect(abort.reason).toBe('multiplication-check-failed');
    expect(abort.culprits).toEqual([1]);
    expect(abort.banned).toEqual([1]);
  });

  it('a tampered γ (Alice adjusting her input) fails the Γ check', () => {
    const abort = abortOf(() =>
      run(
        pick(shares, [2, 3]),
        'mul-gamma',
        rewrite((i) => i.round === 2 && !i.broadcast && i.from === 2, flipByte(MUL_GAMMA + 31)),
      ),
    );
    expect(abort.reason).toBe('multiplication-check-failed');
    expect(abort.culprits).toEqual([2]);
  });

  for (const [name, offset] of [
    ['Γ^u', GAMMA_U],
    ['Γ^v', GAMMA_V],
  ] as const) {
    it(`a substituted ${name} aborts and bans the sender`, () => {
      const abort = abortOf(() =>
        run(
          pick(shares, [1, 3]),
          `gamma-${name}`,
          rewrite(
            (i) => i.round === 2 && !i.broadcast && i.from === 3,
            (p) => {
              p.set(pointBytes(Point.BASE), offset);
              return p;
            },
          ),
        ),
      );
      expect(abort.reason).toBe('multiplication-check-failed');
      expect(abort.culprits).toEqual([3]);
      expect(abort.banned).toEqual([3]);
      expect(abort.message).toContain(`${name} check failed`);
    });
  }

  it('Γ^u and Γ^v shifted by opposite offsets (errors a fixed combination of the two checks would cancel) abort and ban the sender', () => {
    for (const factor of [1n, N - 1n, 2n]) {
      __TESTS.clearBans();
      const abort = abortOf(() =>
        run(
          pick(shares, [1, 3]),
          `gamma-cancel-${factor}`,
          rewrite(
            (i) => i.round === 2 && !i.broadcast && i.from === 3,
            (p) => {
              // Γ^u + factor·G and Γ^v − G: E_u + factor·E_v = O.
              const gammaU = Point.fromBytes(p.subarray(GAMMA_U, GAMMA_U + 33));
              const gammaV = Point.fromBytes(p.subarray(GAMMA_V, GAMMA_V + 33));
              p.set(pointBytes(gammaU.add(Point.BASE.multiply(factor))), GAMMA_U);
              p.set(pointBytes(gammaV.subtract(Point.BASE)), GAMMA_V);
              return p;
            },
          ),
        ),
      );
      expect(abort.reason).toBe('multiplication-check-failed');
      expect(abort.culprits).toEqual([3]);
      expect(abort.banned).toEqual([3]);
      expect(abort.message).toContain('Γ^u check failed');
    }
  });

  it('a tampered ψ gives no signature (final verification fails)', () => {
    const abort = abortOf(() =>
      run(
        pick(shares, [1, 2]),
        'psi',
        rewrite((i) => i.round === 2 && !i.broadcast && i.from === 2, flipByte(PSI + 31)),
      ),
    );
    expect(abort.reason).toBe('signature-check-failed');
  });

  it('a public share that does not add up (Σ pk_i ≠ pk) aborts even if used consistently', () => {
    const parties = __TESTS.signPartiesWithFaults(
      { session: 'pk-sum', shares: pick(shares, [1, 2]), message: digest, rng: seededRng('pk-sum') },
      new Map([[2, { keyShareOffset: 1n }]]),
    );
    const abort = abortOf(() => runParties(parties));
    expect(abort.reason).toBe('invalid-share');
    expect(abort.message).toMatch(/do not add up/);
  });

  it('R forced to the identity aborts', () => {
    const parties = __TESTS.signPartiesWithFaults(
      { session: 'r-zero', shares: pick(shares, [1, 3]), message: digest, rng: seededRng('r-zero') },
      new Map([
        [1, { instanceKey: 5n }],
        [3, { instanceKey: N - 5n }],
      ]),
    );
    const abort = abortOf(() => runParties(parties));
    expect(abort.reason).toBe('invalid-share');
    expect(abort.message).toMatch(/identity/);
  });

  it('a bad final share w_i never yields a signature', () => {
    const abort = abortOf(() =>
      run(
        pick(shares, [1, 3]),
        'w-bad',
        rewrite((i) => i.round === 3 && i.from === 1, flipByte(-1)),
      ),
    );
    expect(abort.reason).toBe('signature-check-failed');
  });
});

describe('DKLs23 session binding and broadcast consistency', () => {
  it('rejects a message replayed from another session', () => {
    const old: Uint8Array[] = [];
    run(pick(shares, [1, 2]), 'replay-source', (b, i) => {
      if (i.round === 1 && i.broadcast && i.from === 2) old.push(b);
      return b;
    });
    const abort = abortOf(() =>
      run(pick(shares, [1, 2]), 'replay-target', (b, i) =>
        i.round === 1 && i.broadcast && i.from === 2 ? old[0]! : b,
      ),
    );
    expect(abort.reason).toBe('wrong-session');
    expect(abort.culprits).toEqual([2]);
  });

  it('rejects a payload replayed from another key under the same session string', () => {
    const foreign: Uint8Array[] = [];
    run(pick(other, [1, 2]), 'same-session', (b, i) => {
      if (i.round === 1 && i.broadcast && i.from === 2) foreign.push(decodeWire(b).payload);
      return b;
    });
    const abort = abortOf(() =>
      run(pick(shares, [1, 2]), 'same-session', (b, i) =>
        i.round === 1 && i.broadcast && i.from === 2
          ? encodeWire({ ...decodeWire(b), payload: foreign[0]! })
          : b,
      ),
    );
    expect(abort.reason).toBe('wrong-session');
    expect(abort.culprits).toEqual([2]);
  });

  it('detects an equivocated round-1 broadcast (different payloads to different peers)', () => {
    const signers = keygenSubset();
    const abort = abortOf(() =>
      runParties(
        ecdsaSignParties({ session: 'equivocate', shares: signers, message: digest, rng: seededRng('eq') }),
        {
          tamper: rewrite(
            (i) => i.round === 1 && i.broadcast && i.from === 1 && i.recipient === 3,
            flipByte(40),
          ),
        },
      ),
    );
    expect(abort.reason).toBe('broadcast-equivocation');
  });
});

describe('DKLs23 malformed payloads', () => {
  const put = (bytes: Uint8Array, offset: number) => (p: Uint8Array) => {
    p.set(bytes, offset);
    return p;
  };
  const cases: Array<[string, number, boolean, (p: Uint8Array) => Uint8Array]> = [
    ['a truncated round-1 broadcast', 1, true, (p) => p.subarray(0, p.length - 1)],
    ['a round-1 broadcast with a trailing byte', 1, true, (p) => Uint8Array.of(...p, 0)],
    ['a truncated OT-extension message', 1, false, (p) => p.subarray(0, 100)],
    ['an off-curve R', 2, true, put(new Uint8Array(33).fill(0xff), 32)],
    ['an identity-encoded pk', 2, true, put(new Uint8Array(33), 97)],
    ['ψ ≥ q', 2, false, put(new Uint8Array(32).fill(0xff), PSI)],
    ['u ≥ q in the online round', 3, true, put(new Uint8Array(32).fill(0xff), 32)],
    ['a τ ≥ q', 2, false, put(new Uint8Array(32).fill(0xff), 0)],
  ];
  for (const [name, round, broadcast, edit] of cases) {
    it(`rejects ${name} with a clean abort naming the sender`, () => {
      const abort = abortOf(() =>
        run(
          pick(shares, [1, 2]),
          `malformed-${name}`,
          rewrite((i) => i.round === round && i.broadcast === broadcast && i.from === 2, edit),
        ),
      );
      expect(abort.reason).toBe('malformed-message');
      expect(abort.culprits).toEqual([2]);
    });
  }

  it('rejects party index 0 on the wire', () => {
    const abort = abortOf(() =>
      run(pick(shares, [1, 2]), 'index-0', (b, i) => {
        if (i.round !== 1 || i.from !== 2) return b;
        const out = Uint8Array.from(b);
        // version (1) ‖ session (4 + len) ‖ round (2) ‖ from (1)
        out[1 + 4 + 'index-0'.length + 2] = 0;
        return out;
      }),
    );
    expect(abort.reason).toBe('malformed-message');
  });
});

function keygenSubset(): KeyShare[] {
  // All three parties of the 2-of-3 key sign, so a broadcast can differ between two recipients.
  return shares;
}
