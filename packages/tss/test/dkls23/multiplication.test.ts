import { describe, expect, it } from 'vitest';
import {
  MUL_MESSAGE_BYTES,
  MulCheckError,
  mulReceiverFinish,
  mulReceiverStart,
  mulSenderRespond,
} from '../../src/dkls23/multiplication.ts';
import { mod, N, randomScalar } from '../../src/dkls23/scalar.ts';
import { seededRng } from '../../src/rng.ts';
import { pairwiseSetup } from './helpers.ts';

describe('DKLs23 two-party multiplication (DKLs19 Protocol 1 + §5.1 check)', () => {
  const { alice, bob } = pairwiseSetup('mul');
  const sidExt = new Uint8Array(32).fill(4);
  const sidMul = new Uint8Array(32).fill(5);

  function run(tamper?: (m: Uint8Array) => void) {
    const rng = seededRng(`mul-run-${tamper ? 'bad' : 'ok'}`);
    const inputs = [randomScalar(rng), randomScalar(rng)];
    const bobStart = mulReceiverStart(bob, sidExt, rng);
    const alr = mulSenderRespond(alice, sidExt, sidMul, inputs, bobStart.message, rng);
    const msg = Uint8Array.from(alr.message);
    tamper?.(msg);
    const d = mulReceiverFinish(bobStart.state, sidExt, sidMul, msg);
    return { inputs, b: bobStart.state.b, c: alr.shares, d };
  }

  it('outputs additive shares of a_i·b', () => {
    const { inputs, b, c, d } = run();
    for (let i = 0; i < 2; i++) expect(mod(c[i]! + d[i]!)).toBe(mod(inputs[i]! * b));
  });

  it('rejects an inconsistent correlation in one OT — the §5.1 check', () => {
    // Alice changing τ_j for one j is what a selective-failure attack on β_j looks like.
    let caught = 0;
    for (const j of [0, 1, 2, 3, 4, 5]) {
      try {
        run((m) => {
          m[j * 96 + 31]! ^= 1;
        });
      } catch (e) {
        expect(e).toBeInstanceOf(MulCheckError);
        caught++;
      }
    }
    // Each flip is detected iff β_j = 1; over six positions at least one is set except w.p. 2^-6.
    expect(caught).toBeGreaterThan(0);
  });

  it('rejects a wrong check value u whatever β is', () => {
    expect(() =>
      run((m) => {
        m[MUL_MESSAGE_BYTES - 3 * 32 - 1]! ^= 1;
      }),
    ).toThrow(MulCheckError);
  });

  it('rejects a τ ≥ q in a position Bob does not read (no leak of β through decoding)', () => {
    expect(() =>
      run((m) => {
        for (let j = 0; j < 416 * 3; j++) m.fill(0xff, j * 32, j * 32 + 32);
      }),
    ).toThrow(/not below the group order/);
    expect(N).toBeGreaterThan(0n);
  });

  it("keeps Alice's pads fresh when Bob replays an old OT-extension message (no τ − τ' leak)", () => {
    const bobStart = mulReceiverStart(bob, sidExt, seededRng('replayed-bob'));
    const respond = (sid: Uint8Array) =>
      mulSenderRespond(alice, sidExt, sid, [1n, 2n], bobStart.message, seededRng('same-alice-randomness'))
        .message;
    const first = respond(new Uint8Array(32).fill(1));
    const second = respond(new Uint8Array(32).fill(2));
    // Same masks α, same rows: only fresh pads can make τ differ.
    expect(first.subarray(0, 96)).not.toEqual(second.subarray(0, 96));
  });
});
